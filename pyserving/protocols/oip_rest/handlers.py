"""``/v2`` handlers: parse the JSON header and binary chunks, call ``oip_models``, encode.

The infer body is the JSON object followed by the binary chunks of the inputs that carry
``binary_data_size``, split at ``Inference-Header-Content-Length`` (never by Content-Type:
tritonclient's sync client sends none, its aio client ``application/octet-stream``).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import orjson

from pyserving.apis.json_format import dumps, parse_object
from pyserving.apis.oip_tensors import check_datatype, check_shape, from_json, from_raw, to_json, to_raw
from pyserving.core.errors import InvalidArgumentError, ServingError, StatusCode
from pyserving.protocols import oip_models, oip_repository, oip_statistics
from pyserving.protocols.oip_models import InferInput, InferResult, OipOptions
from pyserving.protocols.oip_rest.routes import UNIMPLEMENTED, OipRoute
from pyserving.serving.server_core import ServerCore

HEADER_LENGTH = b"inference-header-content-length"
JSON = b"application/json"
BINARY = b"application/octet-stream"
MAX_INFLATED_BYTES = 100 * 1024 * 1024

Response = tuple[int, list[tuple[bytes, bytes]], bytes]


def _json(doc: Any, status: int = 200) -> Response:
    return status, [(b"content-type", JSON)], orjson.dumps(doc)


def _empty() -> Response:
    return 200, [(b"content-type", JSON)], b""


async def handle(
    core: ServerCore, options: OipOptions, route: OipRoute, body: bytes, headers: Any, timeout_in_ms: int
) -> Response:
    action = route.action
    if action == "infer":
        return await infer(core, options, route, body, headers, timeout_in_ms)
    if action == "live":
        return _empty()
    if action == "server_ready":
        if not options.ready():
            raise ServingError(
                "the server is not ready: not every model has an available version", StatusCode.UNAVAILABLE
            )
        return _empty()
    if action == "server_metadata":
        return _json(oip_models.server_metadata(options))
    if action == "metadata":
        return _json(oip_models.model_metadata(core, options, route.model, route.version))
    if action == "ready":
        with oip_models.acquire(core, route.model, route.version):
            return _empty()
    if action in ("stats", "all_stats"):
        return _json({"model_stats": oip_statistics.statistics(core, route.model, route.version)})
    if action == "config":
        return _json(oip_models.model_config(core, options, route.model, route.version))
    if action == "repository_index":
        ready = parse_object(body).get("ready", False) if body.strip() else False
        if not isinstance(ready, bool):
            raise InvalidArgumentError("'ready' must be a boolean")
        return _json(oip_repository.repository_index(core, options, ready))
    if action in ("repository_load", "repository_unload"):
        doc = parse_object(body) if body.strip() else {}
        parameters = doc.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise InvalidArgumentError("'parameters' must be an object")
        if action == "repository_load":
            if "config" in parameters or any(str(k).startswith("file:") for k in parameters):
                raise oip_models.unimplemented("loading a model from an uploaded config or files is not supported")
            await oip_repository.repository_load(core, options, route.model)
        else:
            await oip_repository.repository_unload(core, options, route.model)
        return _empty()
    raise oip_models.unimplemented(UNIMPLEMENTED.get(action, f"{action} is not supported"))


# -- infer ---------------------------------------------------------------------------------


def _scan_headers(headers: Any) -> tuple[bytes | None, bytes | None]:
    """The Inference-Header-Content-Length and Content-Encoding values: one pass over the headers."""
    length = encoding = None
    for name, value in headers:
        if name == HEADER_LENGTH:
            if length is None:
                length = value
        elif name == b"content-encoding" and encoding is None:
            encoding = value
    return length, encoding


def _header_length(value: bytes | None, body_length: int) -> int | None:
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        length = -1
    if not 0 <= length <= body_length:
        raise InvalidArgumentError(
            f"Inference-Header-Content-Length must be an integer from 0 to the body length "
            f"({body_length} bytes), got {value[:32].decode('latin-1')!r}"
        )
    return length


def _inflate(body: bytes, encoding: bytes | None) -> bytes:
    if encoding is None or encoding.strip().lower() != b"deflate":
        return body
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(body, MAX_INFLATED_BYTES + 1)
    except zlib.error as exc:
        raise InvalidArgumentError(f"Failed to decompress deflate request body: {exc}") from None
    if len(data) > MAX_INFLATED_BYTES:
        raise InvalidArgumentError("Decompressed request body is too large")
    return data


def _parse_header(data: bytes) -> dict[str, Any]:
    """orjson first (the hot path); what it refuses (``NaN``/``Infinity`` tokens, which tritonclient
    writes in JSON mode) goes through the lenient parser of the /v1 path, which also words the errors."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return parse_object(data)
    if not isinstance(doc, dict):
        return parse_object(data)  # its error names what the body is
    return doc


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{where} parameters must be a JSON object")
    return value


def _flag(parameters: dict[str, Any], key: str, default: bool) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"parameter '{key}' must be a boolean")
    return value


async def infer(
    core: ServerCore, options: OipOptions, route: OipRoute, body: bytes, headers: Any, timeout_in_ms: int
) -> Response:
    length_value, encoding = _scan_headers(headers)
    body = _inflate(body, encoding)
    length = _header_length(length_value, len(body))
    if length == 0:
        raise InvalidArgumentError(
            "Inference-Header-Content-Length 0 (a raw binary request) is not supported; send the JSON header first"
        )
    try:
        doc = _parse_header(body if length is None else body[:length])
    except InvalidArgumentError as exc:
        if length is None and b"binary_data_size" in body:
            raise InvalidArgumentError(
                f"{exc.message}; a request with binary input data needs an Inference-Header-Content-Length "
                "header giving the length of its JSON part"
            ) from None
        raise
    rest = memoryview(body)[len(body) if length is None else length :]
    parameters = _parameters(doc.get("parameters"), "request")
    if parameters:
        binary_output = _flag(parameters, "binary_data_output", False)
        signature_name = parameters.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise InvalidArgumentError("parameter 'signature_name' must be a string")
    else:
        binary_output, signature_name = False, ""
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgumentError("'id' must be a string")
    outputs = doc.get("outputs")
    requested: list[str] = []
    binary: dict[str, bool] = {}
    if outputs is not None:
        if not isinstance(outputs, list):
            raise InvalidArgumentError("'outputs' must be a JSON array")
        for item in outputs:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InvalidArgumentError("each requested output needs a string 'name'")
            output_parameters = _parameters(item.get("parameters"), f"output '{item['name']}'")
            if "classification" in output_parameters:
                raise oip_models.unimplemented(
                    "the classification extension is not supported: request the raw output and take the top-k client-side"
                )
            if "shared_memory_region" in output_parameters:
                raise oip_models.unimplemented(UNIMPLEMENTED["shared_memory"])
            requested.append(item["name"])
            binary[item["name"]] = _flag(output_parameters, "binary_data", binary_output)
    inputs = doc.get("inputs")
    if not isinstance(inputs, list):
        raise InvalidArgumentError("'inputs' must be a JSON array")
    limits = core.options.tensor_limits

    def decode() -> list[InferInput]:
        offset = 0
        decoded = []
        for item in inputs:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InvalidArgumentError("each input needs a string 'name'")
            name = item["name"]
            datatype = check_datatype(name, item.get("datatype"))
            shape = check_shape(name, item.get("shape"), datatype, limits)
            input_parameters = _parameters(item.get("parameters"), f"input '{name}'")
            if "shared_memory_region" in input_parameters:
                raise oip_models.unimplemented(UNIMPLEMENTED["shared_memory"])
            size = input_parameters.get("binary_data_size")
            if size is not None:
                if "data" in item:
                    raise InvalidArgumentError(f"input '{name}' has both 'data' and 'binary_data_size'")
                if type(size) is not int or size < 0:
                    raise InvalidArgumentError(f"input '{name}': binary_data_size must be a non-negative integer")
                if length is None:
                    raise InvalidArgumentError(
                        f"input '{name}' has binary data, but the request has no Inference-Header-Content-Length header"
                    )
                if offset + size > len(rest):
                    raise InvalidArgumentError(
                        f"input '{name}' needs {size} bytes of binary data, but only {len(rest) - offset} follow"
                    )
                array = from_raw(name, datatype, shape, rest[offset : offset + size])
                offset += size
            elif "data" in item:
                array = from_json(name, datatype, shape, item["data"])
            else:
                raise InvalidArgumentError(f"input '{name}' has neither 'data' nor a 'binary_data_size' parameter")
            decoded.append(InferInput(name, datatype, array))
        if offset != len(rest):
            raise InvalidArgumentError(
                f"unexpected additional input data: {len(rest) - offset} bytes after the last binary input"
            )
        return decoded

    timeout = oip_models.request_timeout(timeout_in_ms, parameters.get("timeout")) if parameters else timeout_in_ms
    result = await oip_models.infer(
        core, options, route.model, route.version, decode, requested, timeout, signature_name, len(body)
    )
    if oip_models.off_loop(result.outputs):
        return await core.run_blocking(_encode, route.model, result, request_id, binary, binary_output)
    return _encode(route.model, result, request_id, binary, binary_output)


# '{"model_name":...,"model_version":...' per (model, version): the same bytes for every answer.
_PREFIXES: dict[tuple[str, int], bytes] = {}


def _prefix(model: str, version: int) -> bytes:
    key = (model, version)
    prefix = _PREFIXES.get(key)
    if prefix is None:
        if len(_PREFIXES) > 4096:  # versions come and go: forget them all now and then
            _PREFIXES.clear()
        prefix = _PREFIXES[key] = orjson.dumps({"model_name": model, "model_version": str(version)})[:-1]
    return prefix


def _encode(
    model: str, result: InferResult, request_id: str | None, binary: dict[str, bool], binary_output: bool
) -> Response:
    """The JSON header, then the binary outputs' chunks in output order (§3.2)."""
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    floats: list[np.ndarray] = []
    for name, datatype, array in result.outputs:
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": array.shape}
        if binary.get(name, binary_output) if binary else binary_output:
            chunk = to_raw(array, datatype)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            data = to_json(name, array, datatype)
            if isinstance(data, np.ndarray) and data.dtype.kind == "f":
                floats.append(data)
            entry["data"] = data
        entries.append(entry)
    # The model and version are pre-encoded; the rest is one orjson call (numpy arrays written by orjson).
    tail = orjson.dumps(
        {"id": request_id, "outputs": entries} if request_id is not None else {"outputs": entries},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    # orjson writes NaN and infinities as null; only then look for them (as the /v1 path does).
    if b"null" in tail and any(not np.isfinite(data).all() for data in floats):
        answer: dict[str, Any] = {"model_name": model, "model_version": str(result.version)}
        if request_id is not None:
            answer["id"] = request_id
        answer["outputs"] = [{**entry, "shape": list(entry["shape"])} for entry in entries]
        header = dumps(answer, non_finite=True)
    else:
        header = b"".join((_prefix(model, result.version), b",", tail[1:]))
    if not chunks:
        return 200, [(b"content-type", JSON)], header
    response_headers = [(b"content-type", BINARY), (HEADER_LENGTH, str(len(header)).encode())]
    return 200, response_headers, b"".join([header, *chunks])
