"""The HTTP service (FastAPI): app factory, routers, schemas, dependencies, the job queue and
its store, and the journalist web page. See README.md beside this file."""
