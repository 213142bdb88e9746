"""kinoseal: generate labeled AI video and verify where a clip came from.

This small package holds only what every other package shares: the version,
the one configuration object and the user-facing error type.
"""

from kinoseal.config import Limits, Settings
from kinoseal.errors import KinosealError

__version__ = "0.1.0"

__all__ = ["KinosealError", "Limits", "Settings", "__version__"]
