"""ASGI entry point for uvicorn: ``mobile_api.asgi:app``."""

from gridcrew import logs
from mobile_api.app import create_app

logs.setup("api")
app = create_app()
