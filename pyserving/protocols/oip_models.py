"""The OIP v2 use-cases both front ends share: resolve, metadata, readiness, config, infer.

Why here and not in each protocol: REST and gRPC must answer the same model with the same
names, versions, shapes and status codes; each front end only decodes its wire format into
``(datatype, array)`` per input and encodes the result (``../shared/docs/oip-v2.md`` §1, §5).
Inference goes through ``serving/inference.py`` and ``ServerCore.run`` like TF Serving's API,
so batching, deadlines, tensor limits and metrics apply alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyserving import __version__
from pyserving.apis.oip_datatypes import CONFIG_TYPES, array_datatype, oip_datatype
from pyserving.core.errors import (
    InvalidArgumentError,
    ServableNotFoundError,
    ServingError,
    StatusCode,
    UnavailableError,
)
from pyserving.core.ids import ServableRequest
from pyserving.core.manager import ServableHandle
from pyserving.core.states import ManagerState
from pyserving.serving import inference
from pyserving.serving.model_config import ModelConfig
from pyserving.serving.server_core import ServerCore
from pyserving.tensors.signature import Signature, TensorSpec

SERVER_NAME = "pyserving"
PLATFORMS = {"tensorflow": "tensorflow_savedmodel", "onnx": "onnxruntime_onnx", "python": "python"}
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_INT64_MAX = 2**63 - 1
REPOSITORY_FLAG = "--enable_model_repository_api"


@dataclass
class OipOptions:
    """What the OIP front ends need beyond the core; one instance shared by REST and gRPC."""

    # --oip_signature_name: the signature OIP serves (metadata and infer).
    signature_name: str = inference.DEFAULT_SIGNATURE
    # Server readiness (the runner's: no shutdown started and every model available).
    ready: Callable[[], bool] = lambda: True
    # --enable_model_repository_api: index/load/unload change what is served.
    repository_api: bool = False
    # --num_workers: load/unload would reach one worker only.
    workers: int = 1
    # Every model ever configured: load may bring back an unloaded one from its base path.
    known_models: dict[str, ModelConfig] = field(default_factory=dict)

    def extensions(self) -> list[str]:
        names = ["binary_tensor_data", "model_configuration", "statistics"]
        if self.repository_api:
            names.append("model_repository")
        return names


def server_metadata(options: OipOptions) -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": __version__, "extensions": options.extensions()}


# -- resolution ---------------------------------------------------------------------------


def servable_request(core: ServerCore, name: str, version: str) -> ServableRequest:
    """A decimal version, a TF Serving version label (a pyserving extension), or "" for latest."""
    if not name:
        raise InvalidArgumentError("model name must not be empty")
    if not version:
        return core.resolve(name)
    if _DIGITS.fullmatch(version):
        digits = version.lstrip("0") or "0"
        if len(digits) > 19 or int(digits) > _INT64_MAX:
            raise InvalidArgumentError(f"model version {version[:64]!r} is out of range")
        return core.resolve(name, int(digits))
    model = core.models.get(name)
    if model is not None and version in model.version_labels:
        return core.resolve(name, label=version)
    raise InvalidArgumentError(
        f"model version {version[:64]!r} is neither a decimal version nor a version label of model '{name}'"
    )


def _unavailable_or_missing(core: ServerCore, request: ServableRequest) -> ServingError:
    """NOT_FOUND for a name or version nobody configured; UNAVAILABLE for one on its way."""
    name = request.name
    if name not in core.models:
        return ServableNotFoundError(f"Request for unknown model: '{name}' is not found")
    states = core.monitor.versions(name)
    if request.version is None:
        if any(s.state in (ManagerState.START, ManagerState.LOADING) for s in states) or not states:
            return UnavailableError(f"model '{name}' has no available version yet")
        return UnavailableError(f"model '{name}' has no available version")
    for state in states:
        if state.id.version == request.version and state.state != ManagerState.END:
            return UnavailableError(f"model '{name}' version {request.version} is not ready ({state.state.name})")
    return ServableNotFoundError(f"model '{name}' version {request.version} is not found")


def acquire(core: ServerCore, name: str, version: str) -> ServableHandle:
    """A handle (use it in ``with``), or NOT_FOUND / UNAVAILABLE saying which."""
    request = servable_request(core, name, version)
    try:
        return core.acquire(request)
    except ServableNotFoundError:
        raise _unavailable_or_missing(core, request) from None


def model_ready(core: ServerCore, name: str, version: str) -> bool:
    """True when an infer on the same path would not fail for availability; NOT_FOUND for unknown names."""
    try:
        with acquire(core, name, version):
            return True
    except UnavailableError:
        return False
    except ServableNotFoundError:
        if name in core.models and version:
            return False
        raise


# -- metadata -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignaturePlan:
    """What infer needs of a signature, worked out once per signature object (not per request).

    Why: a tiny model's request costs tens of microseconds, and sorting the outputs, mapping
    dtypes to OIP names and re-checking the signature each time was a measurable share of it.
    """

    signature: Signature
    input_datatypes: dict[str, str]  # alias -> OIP datatype
    sorted_outputs: list[str]  # the answer's order when no outputs are requested; read-only
    required: frozenset[str]  # inputs without a default


# Plans of signatures whose dtypes all have OIP names, by id (the plan keeps the signature, so the id stays its own).
_PLANS: dict[int, SignaturePlan] = {}


def plan_of(handle: ServableHandle, options: OipOptions, name: str = "") -> SignaturePlan:
    """``name`` (a request's ``signature_name`` parameter), else --oip_signature_name."""
    signature = inference.find_signature(handle.servable, name or options.signature_name, _missing_signature)
    plan = _PLANS.get(id(signature))
    if plan is not None and plan.signature is signature:
        return plan
    datatypes: dict[str, str] = {}
    for kind, specs in (("input", signature.inputs), ("output", signature.outputs)):
        for alias, spec in specs.items():
            datatype = oip_datatype(spec.dtype)
            if datatype is None:
                raise InvalidArgumentError(
                    f"signature '{signature.name}' {kind} '{alias}' has dtype {spec.dtype_name}, "
                    "which the Open Inference Protocol cannot carry"
                )
            if kind == "input":
                datatypes[alias] = datatype
    plan = SignaturePlan(
        signature,
        datatypes,
        sorted(signature.outputs),
        frozenset(alias for alias in signature.inputs if alias not in signature.defaults),
    )
    if len(_PLANS) > 4096:  # signatures of unloaded versions: forget them all now and then
        _PLANS.clear()
    _PLANS[id(signature)] = plan
    return plan


def signature_of(handle: ServableHandle, options: OipOptions, name: str = "") -> Signature:
    """``name`` (a request's ``signature_name`` parameter), else --oip_signature_name."""
    return plan_of(handle, options, name).signature


def _missing_signature(key: str, hint: str) -> ServingError:
    return InvalidArgumentError(
        f"signature '{key}' not found (--oip_signature_name or the signature_name parameter).{hint}"
    )


def _shape(spec: TensorSpec) -> list[int]:
    return [-1] if spec.shape is None else [int(d) for d in spec.shape]


def tensor_metadata(specs: Mapping[str, TensorSpec]) -> list[dict[str, Any]]:
    return [
        {"name": alias, "datatype": oip_datatype(specs[alias].dtype), "shape": _shape(specs[alias])}
        for alias in sorted(specs)
    ]


def platform_of(core: ServerCore, name: str) -> str:
    model = core.models.get(name)
    platform = model.model_platform if model is not None else ""
    return PLATFORMS.get(platform, platform)


def model_metadata(core: ServerCore, options: OipOptions, name: str, version: str) -> dict[str, Any]:
    with acquire(core, name, version) as handle:
        signature = signature_of(handle, options)
        versions = (
            [str(handle.id.version)] if version else [str(v) for v in sorted(core.manager.available_versions(name))]
        )
        return {
            "name": name,
            "versions": versions,
            "platform": platform_of(core, name),
            "inputs": tensor_metadata(signature.inputs),
            "outputs": tensor_metadata(signature.outputs),
        }


def model_config(core: ServerCore, options: OipOptions, name: str, version: str) -> dict[str, Any]:
    """Triton's ModelConfig from the signature (§5.4): full shapes and max_batch_size 0, always correct."""
    with acquire(core, name, version) as handle:
        signature = signature_of(handle, options)
    model = core.models.get(name)
    policy: dict[str, Any] = {"latest": {"num_versions": 1}}
    if model is not None:
        kind = model.version_policy.kind
        if kind == "all":
            policy = {"all": {}}
        elif kind == "specific":
            policy = {"specific": {"versions": list(model.version_policy.versions)}}
        else:
            policy = {"latest": {"num_versions": model.version_policy.num_versions}}
    platform = model.model_platform if model is not None else ""

    def tensors(specs: Mapping[str, TensorSpec]) -> list[dict[str, Any]]:
        return [
            {
                "name": alias,
                "data_type": CONFIG_TYPES[str(oip_datatype(specs[alias].dtype))],
                "dims": _shape(specs[alias]),
            }
            for alias in sorted(specs)
        ]

    return {
        "name": name,
        "platform": platform_of(core, name),
        "backend": platform,
        "version_policy": policy,
        "max_batch_size": 0,
        "input": tensors(signature.inputs),
        "output": tensors(signature.outputs),
    }


# -- infer -------------------------------------------------------------------------------------


# Payloads (bytes) decoded, and results (elements) encoded, on the inference executor from this size on.
OFF_LOOP_BYTES = 1 << 20
OFF_LOOP_ELEMENTS = 1 << 18


def off_loop(outputs: Sequence[tuple[str, str, np.ndarray]]) -> bool:
    """Whether encoding these outputs is worth a trip to the executor."""
    size = 0
    for _, _, array in outputs:
        size += array.size
    return size >= OFF_LOOP_ELEMENTS


@dataclass
class InferInput:
    name: str
    datatype: str
    array: np.ndarray


@dataclass
class InferResult:
    version: int
    outputs: list[tuple[str, str, np.ndarray]]  # (name, datatype, array) in answer order


def request_timeout(timeout_in_ms: int, micros: Any) -> int:
    """The run timeout in ms: the protocol's (0: none), shortened by the request's ``timeout``
    parameter (microseconds, as tritonclient's ``timeout=`` sends it) when that is smaller."""
    if type(micros) is not int or micros <= 0:
        return timeout_in_ms
    asked = max(1, micros // 1000)
    return asked if timeout_in_ms <= 0 else min(timeout_in_ms, asked)


def check_inputs(plan: SignaturePlan, model: str, inputs: Sequence[InferInput]) -> dict[str, np.ndarray]:
    """Unique names known to the signature, datatypes equal to the signature's, known dims equal."""
    signature = plan.signature
    datatypes = plan.input_datatypes
    arrays: dict[str, np.ndarray] = {}
    for item in inputs:
        name = item.name
        if name in arrays:
            raise InvalidArgumentError(f"input '{name}' appears more than once in the request")
        expected = datatypes.get(name)
        if expected is None:
            raise InvalidArgumentError(
                f"unexpected inference input '{name}' for model '{model}'; "
                f"its inputs are {', '.join(sorted(signature.inputs)) or 'none'}"
            )
        if item.datatype != expected:
            raise InvalidArgumentError(
                f"inference input '{name}' data-type is '{item.datatype}', but model '{model}' expects '{expected}'"
            )
        dims = signature.inputs[name].shape
        if dims is not None:
            shape = item.array.shape
            if len(shape) != len(dims) or any(d != -1 and d != s for d, s in zip(dims, shape, strict=True)):
                raise InvalidArgumentError(
                    f"unexpected shape for input '{name}' for model '{model}'. Expected {list(dims)}, got {list(shape)}"
                )
        arrays[name] = item.array
    if len(arrays) != len(datatypes):  # names are unique and known: all there when the counts match
        missing = sorted(plan.required.difference(arrays))
        if missing:
            raise InvalidArgumentError(
                f"expected {len(signature.inputs)} inputs but got {len(arrays)} inputs for model '{model}'; "
                f"missing: {', '.join(missing)}"
            )
    return arrays


def check_outputs(plan: SignaturePlan, requested: Sequence[str]) -> list[str]:
    if not requested:
        return plan.sorted_outputs
    outputs = plan.signature.outputs
    seen: set[str] = set()
    for name in requested:
        if name in seen:
            raise InvalidArgumentError(f"output '{name}' already exists in request")
        if name not in outputs:
            raise InvalidArgumentError(
                f"unexpected inference output '{name}'; the outputs are {', '.join(plan.sorted_outputs)}"
            )
        seen.add(name)
    return list(requested)


async def infer(
    core: ServerCore,
    options: OipOptions,
    name: str,
    version: str,
    decode: Callable[[], Sequence[InferInput]],
    requested: Sequence[str],
    timeout_in_ms: int,
    signature_name: str = "",
    payload_bytes: int = 0,
) -> InferResult:
    """Resolve (404/503 before any body error), decode, check, run through ``ServerCore.run``.

    A payload of ``OFF_LOOP_BYTES`` or more is decoded on the inference executor, so a large
    JSON or BYTES body does not stall the event loop.
    """
    with acquire(core, name, version) as handle:
        plan = plan_of(handle, options, signature_name)
        inputs = decode() if payload_bytes < OFF_LOOP_BYTES else await core.run_blocking(decode)
        arrays = check_inputs(plan, name, inputs)
        keys = check_outputs(plan, requested)
        outputs = await inference.run_signature(core, handle, plan.signature, arrays, keys, timeout_in_ms)
        version_used = handle.id.version
    result = []
    for key in keys:
        array = np.asarray(outputs[key])
        try:
            datatype = array_datatype(array)
        except ValueError as exc:
            raise InvalidArgumentError(f"output '{key}': {exc}") from None
        result.append((key, datatype, array))
    return InferResult(version_used, result)


def unimplemented(what: str) -> ServingError:
    return ServingError(what, StatusCode.UNIMPLEMENTED)
