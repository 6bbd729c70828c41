"""The HTTP service: :func:`create_app` (the FastAPI app over a shared Pipeline) and ``cmkd-med serve``."""

from cmkd_med.service.app import ServiceConfig, create_app

__all__ = ["ServiceConfig", "create_app"]
