"""TF Serving's REST API as a transport: one pooled httpx.AsyncClient per replica.

Imports no TensorFlow: a gateway whose upstreams are all REST starts in well
under a second and stays small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import orjson

from pyserving.gateway import codec
from pyserving.gateway.config import UpstreamConfig
from pyserving.gateway.transports.base import ModelTarget, UpstreamError
from pyserving.tensors.dtypes import DataType
from pyserving.tensors.signature import Signature, TensorSpec

#: HTTP status from the model server to canonical code (TF's ToHTTPStatusCode, inverted).
HTTP_TO_CODE: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_JSON = {"content-type": "application/json"}


class RestTransport:
    """Not thread-safe: one event loop (httpx.AsyncClient is bound to it)."""

    json_needs_signature = False

    def __init__(self, address: str, config: UpstreamConfig) -> None:
        self.address = address
        self._client = pooled_client(address, config)

    @staticmethod
    def _model_path(target: ModelTarget) -> str:
        path = f"/v1/models/{quote(target.model, safe='')}"
        if target.version is not None:
            path += f"/versions/{target.version}"
        elif target.label is not None:
            path += f"/labels/{quote(target.label, safe='')}"
        return path

    async def _send(
        self, method: str, path: str, timeout_s: float, content: bytes | None = None, request_id: str = ""
    ) -> bytes:
        headers = dict(_JSON) if content is not None else {}
        if request_id:
            headers["x-request-id"] = request_id
        response = await send(self._client, method, path, timeout_s, content, headers)
        if response.status_code != 200:
            raise UpstreamError(HTTP_TO_CODE.get(response.status_code, "UNKNOWN"), error_message(response))
        return response.content

    async def predict(
        self,
        target: ModelTarget,
        inputs: Mapping[str, np.ndarray],
        signature: Signature,
        timeout_s: float,
        request_id: str,
    ) -> dict[str, np.ndarray]:
        body = codec.rest_predict_body(inputs, target.signature)
        raw = await self._send("POST", self._model_path(target) + ":predict", timeout_s, body, request_id)
        try:
            return codec.outputs_from_json(orjson.loads(raw), signature)
        except (orjson.JSONDecodeError, codec.InputError) as exc:
            raise UpstreamError("INTERNAL", f"unreadable predict response: {exc}") from None

    async def predict_json(
        self, target: ModelTarget, body: dict[str, Any], signature: Signature | None, timeout_s: float, request_id: str
    ) -> bytes:
        return await self._send(
            "POST", self._model_path(target) + ":predict", timeout_s, orjson.dumps(body), request_id
        )

    async def signature(self, target: ModelTarget, timeout_s: float) -> Signature:
        raw = await self._send("GET", self._model_path(target) + "/metadata", timeout_s)
        try:
            defs = orjson.loads(raw)["metadata"]["signature_def"]["signature_def"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamError("INTERNAL", "unreadable model metadata") from None
        if target.signature not in defs:
            raise UpstreamError(
                "SIGNATURE_NOT_FOUND",
                f"model {target.model!r} has no signature {target.signature!r} (it has: {', '.join(sorted(defs))})",
            )
        try:
            return signature_from_json(target.signature, defs[target.signature])
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise UpstreamError("INTERNAL", f"unreadable signature {target.signature!r}: {exc!r}") from None

    async def check(self, models: Sequence[str], mode: str, timeout_s: float) -> set[str] | None:
        available = set()
        for model in models:
            try:
                raw = await self._send("GET", f"/v1/models/{quote(model, safe='')}", timeout_s)
                states = [v.get("state") for v in orjson.loads(raw).get("model_version_status", [])]
            except UpstreamError as exc:
                if exc.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                    return None
                continue
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if "AVAILABLE" in states:
                available.add(model)
        return available

    async def aclose(self) -> None:
        await self._client.aclose()


def pooled_client(address: str, config: UpstreamConfig) -> httpx.AsyncClient:
    """The replica's kept-alive connections (``connections`` of them), without proxies from the environment."""
    limits = httpx.Limits(
        max_connections=config.connections, max_keepalive_connections=config.connections, keepalive_expiry=30
    )
    return httpx.AsyncClient(base_url=address, limits=limits, trust_env=False, timeout=config.timeout_ms / 1000)


async def send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    timeout_s: float,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request to a replica (REST and OIP REST alike); failing to connect, time running out or a
    broken connection raise :class:`UpstreamError` (UNAVAILABLE or DEADLINE_EXCEEDED), any answer returns."""
    try:
        return await client.request(method, path, content=content, headers=headers, timeout=timeout_s)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise UpstreamError("UNAVAILABLE", f"cannot connect: {exc or type(exc).__name__}") from None
    except httpx.TimeoutException:
        raise UpstreamError("DEADLINE_EXCEEDED", f"no answer within {timeout_s * 1000:.0f} ms") from None
    except httpx.TransportError as exc:
        raise UpstreamError("UNAVAILABLE", f"connection failed: {type(exc).__name__}: {exc}") from None


def error_message(response: httpx.Response) -> str:
    """The model server's ``{"error": ...}`` message (also for OIP servers, which use the same shape)."""
    try:
        error = orjson.loads(response.content).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        error = None
    if isinstance(error, dict):  # another gateway in front of the server
        error = error.get("message")
    return str(error) if error else f"HTTP {response.status_code}"


def signature_from_json(name: str, sig: dict[str, Any]) -> Signature:
    """TF Serving's JSON SignatureDef (GetModelMetadata over REST) as a Signature."""

    def specs(tensors: dict[str, Any]) -> dict[str, TensorSpec]:
        out = {}
        for alias, info in tensors.items():
            shape_info = info.get("tensor_shape", {})
            shape = (
                None
                if shape_info.get("unknown_rank")
                else tuple(int(d.get("size", -1)) for d in shape_info.get("dim", []))
            )
            out[alias] = TensorSpec(info.get("name", ""), int(DataType[info["dtype"]]), shape)
        return out

    return Signature(
        name,
        sig.get("method_name", ""),
        specs(sig.get("inputs", {})),
        specs(sig.get("outputs", {})),
        frozenset(sig.get("defaults", {})),
    )
