"""GET /v1/openapi.json: the REST port's OpenAPI 3.1 document (source: docs/openapi.yaml).

Why served: clients and fuzzers (schemathesis in tests/server/test_openapi.py) read the API of
the server they talk to. Read once, on the first request; PyYAML comes with uvicorn[standard].
"""

from __future__ import annotations

import functools
from importlib import resources

import orjson

from pyserving.apis.json_format import error_body

OPENAPI_PATH = "/v1/openapi.json"
JSON = b"application/json"


@functools.cache
def openapi_json() -> bytes:
    import yaml

    text = resources.files("pyserving.protocols.rest").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return orjson.dumps(yaml.safe_load(text))


async def openapi_route(method: str, body: bytes) -> tuple[int, bytes, bytes]:
    if method != "GET":
        return 405, JSON, error_body(f"Method {method} not allowed on {OPENAPI_PATH}")
    return 200, JSON, openapi_json()
