"""The ``kinoseal`` command line (Typer + Rich): thin commands that parse, call the library
and print (``render``); the HTTP service's commands start ``kinoseal.api.http``."""

from kinoseal.api.cli.main import app, main

__all__ = ["app", "main"]
