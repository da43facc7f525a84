"""TF Serving's API (``/v1`` REST and ``tensorflow.serving`` gRPC) as client calls.

REST answers carry no dtypes and, for one output, no output name; the REST side reads both
from the model's metadata once per (model, version, signature) and caches them. Bytes go as
``{"b64": ...}``, ``str`` as JSON strings; string outputs come back as ``bytes`` on both
transports, so the two return identical arrays.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pyserving.client import examples as ex
from pyserving.client._calls import Plan, Rest, Rpc, as_arrays, model_path, ok_json
from pyserving.client._protos import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
    regression_pb2,
)
from pyserving.client.errors import InvalidArgument, NotFound
from pyserving.client.tensors import encode, make_ndarray, numpy_dtype
from pyserving.client.types import ModelMetadata, Signature, TensorSpec, VersionStatus

__all__ = ["TFServingRest", "TFServingGrpc"]

DEFAULT_SIGNATURE = "serving_default"
_JSON = {"Content-Type": "application/json"}
_PREDICTION = "/tensorflow.serving.PredictionService/"
_MODEL = "/tensorflow.serving.ModelService/"

Classes = list[list[tuple[str, float]]]


# -- REST -----------------------------------------------------------------------------------


def _jsonable(array: np.ndarray) -> Any:
    if array.dtype.kind not in "OSU":
        return array.tolist()
    return _strings(array.tolist())


def _strings(value: Any) -> Any:
    if isinstance(value, list):
        return [_strings(v) for v in value]
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, str):
        return value
    raise TypeError(f"a string tensor element must be str or bytes, not {type(value).__name__}")


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _from_strings(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_strings(v) for v in value]
    if _is_b64(value):
        return base64.b64decode(value["b64"])
    if isinstance(value, str):
        return value.encode("utf-8")
    return value


def _to_array(value: Any, spec: TensorSpec | None) -> np.ndarray:
    if spec is not None and spec.dtype is not None and spec.dtype.kind == "O" or _is_b64(value):
        converted = _from_strings(value)
        if not isinstance(converted, list):
            scalar = np.empty((), dtype=object)
            scalar[()] = converted
            return scalar
        return np.array(converted, dtype=object)
    return np.asarray(value, dtype=None if spec is None else spec.dtype)


def _spec_from_json(info: Mapping[str, Any]) -> TensorSpec:
    dtype_name = info.get("dtype", "DT_INVALID")
    shape_json = info.get("tensor_shape")
    shape: tuple[int, ...] | None = None
    if shape_json is not None and not shape_json.get("unknown_rank", False):
        shape = tuple(int(d.get("size", -1)) for d in shape_json.get("dim", []))
    return TensorSpec(numpy_dtype(dtype_name), shape, dtype_name, info.get("name", ""))


def _signatures_from_json(defs: Mapping[str, Any]) -> dict[str, Signature]:
    return {
        key: Signature(
            {k: _spec_from_json(v) for k, v in sig.get("inputs", {}).items()},
            {k: _spec_from_json(v) for k, v in sig.get("outputs", {}).items()},
            sig.get("method_name", ""),
        )
        for key, sig in defs.items()
    }


def _status_from_json(entry: Mapping[str, Any]) -> VersionStatus:
    status = entry.get("status", {})
    return VersionStatus(
        int(entry.get("version", 0)),
        entry.get("state", "UNKNOWN"),
        status.get("error_code", "OK"),
        status.get("error_message", ""),
    )


class TFServingRest:
    """TF Serving's REST API. ``rest_format``: "columnar" (``inputs``, the default: any shapes)
    or "row" (``instances``: every input shares the first dimension)."""

    def __init__(self, rest_format: str = "columnar") -> None:
        if rest_format not in ("columnar", "row"):
            raise ValueError(f"rest_format must be 'columnar' or 'row', not {rest_format!r}")
        self.rest_format = rest_format
        self._signatures: dict[tuple[Any, ...], Signature] = {}

    def _signature(self, model: str, version: Any, label: Any, name: str, timeout: Any) -> Plan:
        key = (model, version, label, name)
        found = self._signatures.get(key)
        if found is None:
            meta = yield from self.metadata(model, version=version, version_label=label, timeout=timeout)
            if name not in meta.signatures:
                raise InvalidArgument(f'Serving signature name: "{name}" not found in signature def')
            found = self._signatures[key] = meta.signatures[name]
        return found

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
        arrays = as_arrays(inputs)
        body: dict[str, Any] = {}
        if signature_name:
            body["signature_name"] = signature_name
        if self.rest_format == "row":
            sizes = {a.shape[0] if a.ndim else -1 for a in arrays.values()}
            if len(sizes) != 1 or -1 in sizes:
                raise ValueError("the row format needs every input to have the same first dimension")
            (batch,) = sizes
            columns = {name: _jsonable(a) for name, a in arrays.items()}
            body["instances"] = [{name: col[i] for name, col in columns.items()} for i in range(batch)]
        else:
            body["inputs"] = {name: _jsonable(a) for name, a in arrays.items()}
        path = model_path("/v1", model, version, version_label) + ":predict"
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        sig = yield from self._signature(model, version, version_label, signature_name or DEFAULT_SIGNATURE, timeout)
        doc = ok_json((yield Rest("POST", path, payload, _JSON, timeout)))
        result = self._read(doc, sig)
        if not outputs:
            return result
        missing = [k for k in outputs if k not in result]
        if missing:  # gRPC's output_filter answers the same
            raise InvalidArgument(
                f"output tensor alias not found in signature: {missing[0]} Outputs expected to be in the set {{{','.join(sorted(result))}}}."
            )
        return {k: result[k] for k in outputs}

    @staticmethod
    def _read(doc: Mapping[str, Any], sig: Signature) -> dict[str, np.ndarray]:
        specs = sig.outputs
        if "outputs" in doc:
            value = doc["outputs"]
            if isinstance(value, dict) and not _is_b64(value):
                return {k: _to_array(v, specs.get(k)) for k, v in value.items()}
            (name,) = specs if len(specs) == 1 else ("outputs",)
            return {name: _to_array(value, specs.get(name))}
        rows = doc["predictions"]
        if rows and isinstance(rows[0], dict) and not _is_b64(rows[0]):
            return {k: _to_array([row[k] for row in rows], specs.get(k)) for k in rows[0]}
        (name,) = specs if len(specs) == 1 else ("predictions",)
        array = _to_array(rows, specs.get(name))
        return {name: array}

    def _examples_call(self, verb: str, model: str, examples: Any, context: Any, kw: dict[str, Any]) -> Plan:
        body = ex.to_json(examples, context)
        if kw.get("signature_name"):
            body["signature_name"] = kw["signature_name"]
        path = model_path("/v1", model, kw.get("version"), kw.get("version_label")) + ":" + verb
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        doc = ok_json((yield Rest("POST", path, payload, _JSON, kw.get("timeout"))))
        return doc["results"]

    def classify(self, model: str, examples: ex.Examples, *, context: Any = None, **kw: Any) -> Plan:
        results = yield from self._examples_call("classify", model, examples, context, kw)
        return [[(str(label), float(score)) for label, score in classes] for classes in results]

    def regress(self, model: str, examples: ex.Examples, *, context: Any = None, **kw: Any) -> Plan:
        results = yield from self._examples_call("regress", model, examples, context, kw)
        return np.asarray(results, dtype=np.float32)

    def metadata(
        self, model: str, *, version: int | None = None, version_label: str | None = None, timeout: float | None = None
    ) -> Plan:
        path = model_path("/v1", model, version, version_label) + "/metadata"
        doc = ok_json((yield Rest("GET", path, timeout=timeout)))
        spec = doc.get("model_spec", {})
        defs = doc.get("metadata", {}).get("signature_def", {}).get("signature_def", {})
        versions = (int(spec["version"]),) if spec.get("version") else ()
        return ModelMetadata(spec.get("name", model), versions, _signatures_from_json(defs), "", doc)

    def status(self, model: str, *, version: int | None = None, timeout: float | None = None) -> Plan:
        doc = ok_json((yield Rest("GET", model_path("/v1", model, version), timeout=timeout)))
        return [_status_from_json(v) for v in doc.get("model_version_status", [])]

    def ready(self, model: str | None = None, *, version: int | None = None, timeout: float | None = None) -> Plan:
        return (yield from _ready_from_status(self, model, version, timeout))


def _ready_from_status(proto: Any, model: str | None, version: int | None, timeout: float | None) -> Plan:
    if model is None:
        raise ValueError("TF Serving's API has no server readiness: name a model")
    try:
        versions = yield from proto.status(model, version=version, timeout=timeout)
    except NotFound:
        return False
    return any(v.state == "AVAILABLE" for v in versions)


# -- gRPC -----------------------------------------------------------------------------------


def _spec_from_proto(info: Any) -> TensorSpec:
    dtype_name = info.DESCRIPTOR.fields_by_name["dtype"].enum_type.values_by_number.get(info.dtype)
    name = dtype_name.name if dtype_name is not None else str(info.dtype)
    shape: tuple[int, ...] | None = None
    if info.HasField("tensor_shape") and not info.tensor_shape.unknown_rank:
        shape = tuple(d.size for d in info.tensor_shape.dim)
    return TensorSpec(numpy_dtype(info.dtype), shape, name, info.name)


def _set_spec(spec: Any, model: str, version: int | None, label: str | None, signature: str | None) -> None:
    spec.name = model
    if version is not None and label is not None:
        raise ValueError("give a version or a version_label, not both")
    if version is not None:
        spec.version.value = int(version)
    elif label is not None:
        spec.version_label = label
    if signature:
        spec.signature_name = signature


def _enum_name(message: Any, field: str) -> str:
    value = getattr(message, field)
    found = message.DESCRIPTOR.fields_by_name[field].enum_type.values_by_number.get(value)
    return found.name if found is not None else str(value)


class TFServingGrpc:
    """TF Serving's gRPC API (``PredictionService``, ``ModelService``)."""

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
        request = predict_pb2.PredictRequest()
        _set_spec(request.model_spec, model, version, version_label, signature_name)
        for name, array in as_arrays(inputs).items():
            encode(array, True, request.inputs[name])
        if outputs:
            request.output_filter.extend(outputs)
        response = yield Rpc(_PREDICTION + "Predict", request, predict_pb2.PredictResponse, timeout)
        return {name: make_ndarray(tensor) for name, tensor in response.outputs.items()}

    def _examples_request(self, request: Any, model: str, examples: Any, context: Any, kw: dict[str, Any]) -> Any:
        _set_spec(request.model_spec, model, kw.get("version"), kw.get("version_label"), kw.get("signature_name"))
        ex.to_input_proto(examples, context, request.input)
        return request

    def classify(self, model: str, examples: ex.Examples, *, context: Any = None, **kw: Any) -> Plan:
        request = self._examples_request(classification_pb2.ClassificationRequest(), model, examples, context, kw)
        response = yield Rpc(
            _PREDICTION + "Classify", request, classification_pb2.ClassificationResponse, kw.get("timeout")
        )
        return [[(c.label, c.score) for c in item.classes] for item in response.result.classifications]

    def regress(self, model: str, examples: ex.Examples, *, context: Any = None, **kw: Any) -> Plan:
        request = self._examples_request(regression_pb2.RegressionRequest(), model, examples, context, kw)
        response = yield Rpc(_PREDICTION + "Regress", request, regression_pb2.RegressionResponse, kw.get("timeout"))
        return np.asarray([r.value for r in response.result.regressions], dtype=np.float32)

    def metadata(
        self, model: str, *, version: int | None = None, version_label: str | None = None, timeout: float | None = None
    ) -> Plan:
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        _set_spec(request.model_spec, model, version, version_label, None)
        request.metadata_field.append("signature_def")
        response = yield Rpc(
            _PREDICTION + "GetModelMetadata", request, get_model_metadata_pb2.GetModelMetadataResponse, timeout
        )
        defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(defs)
        signatures = {
            key: Signature(
                {k: _spec_from_proto(v) for k, v in sig.inputs.items()},
                {k: _spec_from_proto(v) for k, v in sig.outputs.items()},
                sig.method_name,
            )
            for key, sig in defs.signature_def.items()
        }
        spec = response.model_spec
        versions = (spec.version.value,) if spec.HasField("version") else ()
        return ModelMetadata(spec.name or model, versions, signatures, "", response)

    def status(self, model: str, *, version: int | None = None, timeout: float | None = None) -> Plan:
        request = get_model_status_pb2.GetModelStatusRequest()
        _set_spec(request.model_spec, model, version, None, None)
        response = yield Rpc(_MODEL + "GetModelStatus", request, get_model_status_pb2.GetModelStatusResponse, timeout)
        return [
            VersionStatus(v.version, _enum_name(v, "state"), _enum_name(v.status, "error_code"), v.status.error_message)
            for v in response.model_version_status
        ]

    def ready(self, model: str | None = None, *, version: int | None = None, timeout: float | None = None) -> Plan:
        return (yield from _ready_from_status(self, model, version, timeout))
