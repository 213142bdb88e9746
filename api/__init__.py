"""The two surfaces over the library: ``cli`` (the ``kinoseal`` command) and ``http`` (the
FastAPI service and web page). Neither holds verification or labeling logic."""
