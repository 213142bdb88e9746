"""Storage of the service: jobs, API keys, tenants (SQLAlchemy: SQLite by default,
PostgreSQL by ``KINOSEAL_DATABASE_URL``) and the upload folder."""

from kinoseal.api.http.store.db import ApiKey, Job, Store, Tenant, UploadRecord
from kinoseal.api.http.store.uploads import UploadStore

__all__ = ["ApiKey", "Job", "Store", "Tenant", "UploadRecord", "UploadStore"]
