"""HTTPS on the REST port: the --rest_api_ssl_* flags as uvicorn's TLS options, checked at startup."""

from __future__ import annotations

import os
import ssl
from typing import Any

from pyserving.config.settings import ServerSettings
from pyserving.core.errors import InvalidArgumentError


def uvicorn_ssl_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn.Config's TLS arguments from the --rest_api_ssl_* flags; an unusable file fails here, with the reason."""
    if not settings.rest_api_ssl_certfile:
        return {}
    for flag in ("rest_api_ssl_certfile", "rest_api_ssl_keyfile", "rest_api_ssl_ca_certs"):
        path = getattr(settings, flag)
        if path and not os.path.isfile(path):
            raise InvalidArgumentError(f"--{flag}: no such file: {path}")
    try:  # fail at startup with the reason, not inside uvicorn
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.rest_api_ssl_certfile, settings.rest_api_ssl_keyfile or None
        )
        if settings.rest_api_ssl_ca_certs:
            ssl.create_default_context(cafile=settings.rest_api_ssl_ca_certs)
    except (ssl.SSLError, OSError) as exc:
        raise InvalidArgumentError(f"Cannot use the REST TLS certificate/key/CA files: {exc}") from None
    if settings.rest_api_ssl_client_verify:
        cert_reqs = ssl.CERT_REQUIRED
    elif settings.rest_api_ssl_ca_certs:
        cert_reqs = ssl.CERT_OPTIONAL
    else:
        cert_reqs = ssl.CERT_NONE
    return {
        "ssl_certfile": settings.rest_api_ssl_certfile,
        "ssl_keyfile": settings.rest_api_ssl_keyfile or None,
        "ssl_ca_certs": settings.rest_api_ssl_ca_certs or None,
        "ssl_cert_reqs": cert_reqs,
    }
