"""TF Serving's REST API as a plain ASGI app (served by uvicorn)."""
