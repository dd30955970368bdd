"""ASGI entry point for uvicorn: ``mobile_api.asgi:app``."""

from mobile_api.app import create_app

app = create_app()
