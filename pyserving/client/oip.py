"""The Open Inference Protocol v2 (KServe V2 / Triton): ``/v2`` REST and ``inference`` gRPC.

REST sends and asks for tensors in the binary extension by default (raw little-endian bytes
after the JSON header, no JSON number formatting either way); ``binary=False`` uses JSON
``data`` lists. gRPC always uses ``raw_input_contents`` and reads ``raw_output_contents``.
OIP has no classify/regress and no version labels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import grpc

from pyserving.client._calls import Plan, Rest, Rpc, as_arrays, model_path, ok_json
from pyserving.client._protos import oip_pb2
from pyserving.client.errors import InvalidArgument, NotFound, ServingError, from_http
from pyserving.client.oip_tensors import (
    DATATYPES,
    datatype_of,
    from_contents,
    from_json_data,
    from_raw,
    to_json_data,
    to_raw,
)
from pyserving.client.types import ModelMetadata, Signature, TensorSpec, VersionStatus

__all__ = ["OipRest", "OipGrpc"]

_SERVICE = "/inference.GRPCInferenceService/"
# Repository index states in TF Serving's words (what ``status`` reports for every protocol).
_STATES = {"READY": "AVAILABLE", "LOADING": "LOADING", "UNLOADING": "UNLOADING", "UNAVAILABLE": "END"}


def _no_label(version_label: str | None) -> None:
    if version_label is not None:
        raise ValueError("the Open Inference Protocol has no version labels: give a version")


def _not_supported(what: str) -> Plan:
    raise NotImplementedError(f"the Open Inference Protocol has no {what}: use protocol='tfserving'")
    yield  # pragma: no cover - makes this a generator like the other calls


def _metadata(name: str, versions: Sequence[Any], platform: str, inputs: Any, outputs: Any, raw: Any) -> ModelMetadata:
    def spec(t: Any) -> TensorSpec:
        return TensorSpec(DATATYPES.get(t[1]), tuple(int(d) for d in t[2]), t[1], t[0])

    signature = Signature({t[0]: spec(t) for t in inputs}, {t[0]: spec(t) for t in outputs})
    return ModelMetadata(name, tuple(int(v) for v in versions), {"serving_default": signature}, platform, raw)


# Servers may keep the repository extension off (pyserving: 403 without --enable_model_repository_api).
_NO_INDEX = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND)


def _status_from(proto: Any, index: Any, model: str, version: int | None, timeout: float | None) -> Plan:
    """Versions from the repository index; without one, the metadata's versions (all AVAILABLE)."""
    try:
        entries = yield from index()
    except ServingError as exc:
        if exc.code not in _NO_INDEX:
            raise
        meta = yield from proto.metadata(model, timeout=timeout)
        entries = [(model, str(v), "READY", "") for v in meta.versions]
    return _index_status(entries, model, version)


def _index_status(entries: list[tuple[str, str, str, str]], model: str, version: int | None) -> list[VersionStatus]:
    found = [e for e in entries if e[0] == model]
    if not found:
        raise NotFound(f"model {model!r} is not in the server's repository index")
    out = [
        VersionStatus(int(v), _STATES.get(state, state or "UNKNOWN"), "OK" if not reason else "UNKNOWN", reason)
        for _, v, state, reason in found
        if v
    ]
    if version is not None:
        out = [s for s in out if s.version == version]
        if not out:
            raise NotFound(f"version {version} of model {model!r} is not in the server's repository index")
    return sorted(out, key=lambda s: -s.version)


class OipRest:
    """OIP over HTTP; ``binary``: the binary tensor extension (default) or JSON ``data``."""

    def __init__(self, binary: bool = True) -> None:
        self.binary = binary

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        version: int | None = None,
        version_label: str | None = None,
        signature_name: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> Plan:
        _no_label(version_label)
        tensors, chunks = [], []
        for name, array in as_arrays(inputs).items():
            datatype = datatype_of(array)
            item: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
            if self.binary:
                raw = to_raw(array, datatype)
                item["parameters"] = {"binary_data_size": len(raw)}
                chunks.append(raw)
            else:
                item["data"] = to_json_data(array, datatype)
            tensors.append(item)
        request: dict[str, Any] = {"inputs": tensors}
        parameters: dict[str, Any] = {}
        if signature_name:
            parameters["signature_name"] = signature_name
        if outputs:
            request["outputs"] = [{"name": n, "parameters": {"binary_data": self.binary}} for n in outputs]
        elif self.binary:
            parameters["binary_data_output"] = True
        if parameters:
            request["parameters"] = parameters
        head = json.dumps(request, separators=(",", ":")).encode("utf-8")
        if chunks:
            headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
        else:
            headers = {"Content-Type": "application/json"}
        path = model_path("/v2", model, version) + "/infer"
        response = yield Rest("POST", path, head + b"".join(chunks), headers, timeout)
        if response.status != 200:
            raise from_http(response.status, response.body)
        body = response.body
        size = response.headers.get("inference-header-content-length")
        split = int(size) if size else len(body)
        doc = json.loads(body[:split])
        rest = memoryview(body)[split:]
        result, offset = {}, 0
        for out in doc.get("outputs", []):
            length = (out.get("parameters") or {}).get("binary_data_size")
            if length is not None:
                result[out["name"]] = from_raw(out["datatype"], out["shape"], rest[offset : offset + length])
                offset += length
            else:
                result[out["name"]] = from_json_data(out["datatype"], out["shape"], out.get("data", []))
        return result

    def classify(self, model: str, examples: Any, **kw: Any) -> Plan:
        return _not_supported("classify")

    def regress(self, model: str, examples: Any, **kw: Any) -> Plan:
        return _not_supported("regress")

    def metadata(
        self, model: str, *, version: int | None = None, version_label: str | None = None, timeout: float | None = None
    ) -> Plan:
        _no_label(version_label)
        doc = ok_json((yield Rest("GET", model_path("/v2", model, version), timeout=timeout)))

        def tensors(key: str) -> list[tuple[str, str, list[int]]]:
            return [(t["name"], t["datatype"], t["shape"]) for t in doc.get(key, [])]

        return _metadata(
            doc.get("name", model),
            doc.get("versions", []),
            doc.get("platform", ""),
            tensors("inputs"),
            tensors("outputs"),
            doc,
        )

    def status(self, model: str, *, version: int | None = None, timeout: float | None = None) -> Plan:
        def index() -> Plan:
            headers = {"Content-Type": "application/json"}
            doc = ok_json((yield Rest("POST", "/v2/repository/index", b"{}", headers, timeout)))
            return [
                (e.get("name", ""), str(e.get("version", "")), e.get("state", ""), e.get("reason", ""))
                for e in doc or []
            ]

        return (yield from _status_from(self, index, model, version, timeout))

    def ready(self, model: str | None = None, *, version: int | None = None, timeout: float | None = None) -> Plan:
        path = "/v2/health/ready" if model is None else model_path("/v2", model, version) + "/ready"
        response = yield Rest("GET", path, timeout=timeout)
        if response.status == 200:
            return True
        if response.status in (400, 404, 503):  # not ready, or not known (Triton answers 400)
            return False
        raise from_http(response.status, response.body)


class OipGrpc:
    """OIP over gRPC (``inference.GRPCInferenceService``)."""

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        version: int | None = None,
        version_label: str | None = None,
        signature_name: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> Plan:
        _no_label(version_label)
        request = oip_pb2.ModelInferRequest(model_name=model, model_version="" if version is None else str(version))
        for name, array in as_arrays(inputs).items():
            datatype = datatype_of(array)
            request.inputs.add(name=name, datatype=datatype, shape=array.shape)
            request.raw_input_contents.append(to_raw(array, datatype))
        for name in outputs or ():
            request.outputs.add(name=name)
        if signature_name:
            request.parameters["signature_name"].string_param = signature_name
        response = yield Rpc(_SERVICE + "ModelInfer", request, oip_pb2.ModelInferResponse, timeout)
        raw = response.raw_output_contents
        result = {}
        for i, out in enumerate(response.outputs):
            shape = list(out.shape)
            if i < len(raw):
                result[out.name] = from_raw(out.datatype, shape, raw[i])
            else:  # typed contents (servers other than Triton and pyserving may answer so)
                result[out.name] = from_contents(out.datatype, shape, out.contents)
        return result

    def classify(self, model: str, examples: Any, **kw: Any) -> Plan:
        return _not_supported("classify")

    def regress(self, model: str, examples: Any, **kw: Any) -> Plan:
        return _not_supported("regress")

    def metadata(
        self, model: str, *, version: int | None = None, version_label: str | None = None, timeout: float | None = None
    ) -> Plan:
        _no_label(version_label)
        request = oip_pb2.ModelMetadataRequest(name=model, version="" if version is None else str(version))
        r = yield Rpc(_SERVICE + "ModelMetadata", request, oip_pb2.ModelMetadataResponse, timeout)

        def tensors(items: Any) -> list[tuple[str, str, list[int]]]:
            return [(t.name, t.datatype, list(t.shape)) for t in items]

        return _metadata(r.name or model, list(r.versions), r.platform, tensors(r.inputs), tensors(r.outputs), r)

    def status(self, model: str, *, version: int | None = None, timeout: float | None = None) -> Plan:
        def index() -> Plan:
            request = oip_pb2.RepositoryIndexRequest()
            response = yield Rpc(_SERVICE + "RepositoryIndex", request, oip_pb2.RepositoryIndexResponse, timeout)
            return [(m.name, m.version, m.state, m.reason) for m in response.models]

        return (yield from _status_from(self, index, model, version, timeout))

    def ready(self, model: str | None = None, *, version: int | None = None, timeout: float | None = None) -> Plan:
        if model is None:
            response = yield Rpc(
                _SERVICE + "ServerReady", oip_pb2.ServerReadyRequest(), oip_pb2.ServerReadyResponse, timeout
            )
            return bool(response.ready)
        request = oip_pb2.ModelReadyRequest(name=model, version="" if version is None else str(version))
        try:
            response = yield Rpc(_SERVICE + "ModelReady", request, oip_pb2.ModelReadyResponse, timeout)
        except (NotFound, InvalidArgument):  # unknown model (Triton answers INVALID_ARGUMENT)
            return False
        return bool(response.ready)
