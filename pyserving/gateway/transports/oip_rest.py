"""OIP v2 (KServe V2 / Triton) over HTTP as a transport: one pooled httpx.AsyncClient per replica.

Tensors travel with Triton's binary tensor data extension by default (what
``tritonclient.http`` sends: a JSON header of ``Inference-Header-Content-Length``
bytes, then each tensor's raw bytes), so there is no per-element JSON on either
side; ``binary_tensors = false`` in the upstream config sends and asks for JSON
``data`` instead, for servers without the extension. Imports no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import orjson

from pyserving.apis import json_format
from pyserving.client import oip_tensors
from pyserving.core.errors import ServingError
from pyserving.gateway.codec import InputError
from pyserving.gateway.config import UpstreamConfig
from pyserving.gateway.transports.base import ModelTarget, UpstreamError, predict_json_as_arrays
from pyserving.gateway.transports.oip_metadata import signature_from_metadata
from pyserving.gateway.transports.rest import HTTP_TO_CODE, error_message, pooled_client, send
from pyserving.tensors.signature import Signature

HEADER_LENGTH = "inference-header-content-length"


def oip_error_code(status: int, message: str) -> str:
    """HTTP status to a canonical code; Triton's unknown-model 400 counts as NOT_FOUND.

    Why: the gateway moves on to the next replica on NOT_FOUND (the model is
    not loaded there), and Triton words that case as a 400.
    """
    if status == 400 and "unknown model" in message:
        return "NOT_FOUND"
    return HTTP_TO_CODE.get(status, "UNKNOWN")


def model_path(target: ModelTarget) -> str:
    """``/v2/models/{m}[/versions/{v}]``; a label goes in the version segment (pyserving resolves it)."""
    path = f"/v2/models/{quote(target.model, safe='')}"
    if target.version is not None:
        path += f"/versions/{target.version}"
    elif target.label is not None:
        path += f"/versions/{quote(target.label, safe='')}"
    return path


def infer_body(inputs: Mapping[str, np.ndarray], binary: bool, request_id: str = "") -> tuple[bytes, int | None]:
    """The request body and its JSON header's length (None: the body is all JSON)."""
    tensors, chunks = [], []
    for name, array in inputs.items():
        datatype = oip_tensors.datatype_of(array)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            raw = oip_tensors.to_raw(array, datatype)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = oip_tensors.to_json_data(array, datatype)
        tensors.append(tensor)
    doc: dict[str, Any] = {"inputs": tensors, "parameters": {"binary_data_output": binary}}
    if request_id:
        doc["id"] = request_id
    non_finite = not binary and any(a.dtype.kind == "f" and not np.isfinite(a).all() for a in inputs.values())
    header = json_format.dumps(doc, non_finite=non_finite)
    if not binary:
        return header, None
    return header + b"".join(chunks), len(header)


def read_response(content: bytes, header_length: str | None) -> dict[str, np.ndarray]:
    """An infer response (JSON, or JSON + binary chunks) as ``{name: ndarray}``."""
    try:
        n = len(content) if header_length is None else int(header_length)
        if not 0 <= n <= len(content):
            raise ValueError(f"header length {n} outside the body of {len(content)} bytes")
        doc = json_format.parse_json(content[:n])
        rest = memoryview(content)[n:]
        outputs, offset = {}, 0
        for tensor in doc["outputs"]:
            name, datatype, shape = tensor["name"], tensor["datatype"], tensor["shape"]
            size = (tensor.get("parameters") or {}).get("binary_data_size")
            if size is None:
                outputs[name] = oip_tensors.from_json_data(datatype, shape, tensor.get("data", []))
                continue
            if offset + size > len(rest):
                raise ValueError(f"output {name!r} needs {size} bytes, {len(rest) - offset} left")
            outputs[name] = oip_tensors.from_raw(datatype, shape, rest[offset : offset + size])
            offset += size
        return outputs
    except (ServingError, ValueError, KeyError, TypeError) as exc:
        message = exc.message if isinstance(exc, ServingError) else str(exc)
        raise UpstreamError("INTERNAL", f"unreadable infer response: {message}") from None


class OipRestTransport:
    """Not thread-safe: one event loop (httpx.AsyncClient is bound to it)."""

    json_needs_signature = True  # a TF Serving body is typed against the signature, then sent as OIP

    def __init__(self, address: str, config: UpstreamConfig) -> None:
        self.address = address
        self.binary = config.binary_tensors
        self._client = pooled_client(address, config)

    async def _send(
        self,
        method: str,
        path: str,
        timeout_s: float,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        response = await send(self._client, method, path, timeout_s, content, headers)
        if response.status_code != 200:
            message = error_message(response)
            raise UpstreamError(oip_error_code(response.status_code, message), message)
        return response

    async def predict(
        self,
        target: ModelTarget,
        inputs: Mapping[str, np.ndarray],
        signature: Signature,
        timeout_s: float,
        request_id: str,
    ) -> dict[str, np.ndarray]:
        try:
            body, header_length = infer_body(inputs, self.binary, request_id)
        except oip_tensors.OipTensorError as exc:
            raise InputError(str(exc)) from None
        headers = {"x-request-id": request_id} if request_id else {}
        if header_length is None:
            headers["content-type"] = "application/json"
        else:
            headers["content-type"] = "application/octet-stream"
            headers[HEADER_LENGTH] = str(header_length)
        response = await self._send("POST", model_path(target) + "/infer", timeout_s, body, headers)
        return read_response(response.content, response.headers.get(HEADER_LENGTH))

    async def predict_json(
        self, target: ModelTarget, body: dict[str, Any], signature: Signature | None, timeout_s: float, request_id: str
    ) -> bytes:
        return await predict_json_as_arrays(self, target, body, signature, timeout_s, request_id)

    async def signature(self, target: ModelTarget, timeout_s: float) -> Signature:
        response = await self._send("GET", model_path(target), timeout_s)
        try:
            doc = orjson.loads(response.content)
            return signature_from_metadata(target.signature, doc["inputs"], doc["outputs"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise UpstreamError("INTERNAL", f"unreadable model metadata: {exc}") from None

    async def check(self, models: Sequence[str], mode: str, timeout_s: float) -> set[str] | None:
        """Model ready per model: 200 serves it; 404, 503 (or Triton's 400) does not; no answer is None."""
        available = set()
        for model in models:
            try:
                response = await self._client.get(f"/v2/models/{quote(model, safe='')}/ready", timeout=timeout_s)
            except httpx.HTTPError:
                return None
            if response.status_code == 200:
                available.add(model)
        return available

    async def aclose(self) -> None:
        await self._client.aclose()
