"""The WSGI entry point for production servers: ``syndicate.wsgi:app``."""

from . import create_app

app = create_app()
