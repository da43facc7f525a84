"""tensorflow.serving.PredictionService: decode the protos, call serving.*, encode.

Why thin: the checks and texts live in ``serving/inference.py`` so REST and gRPC
answer alike; this module only knows the proto shapes (ModelSpec resolution,
TensorProto and tf.Example inputs, response model_spec) and TF Serving's
gRPC-only rules (Missing ModelSpec, FAILED_PRECONDITION for an unknown Predict
signature, output_filter, MultiInference task checks, GetModelMetadata fields).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np

from pyserving.apis.input_proto import serialized_examples
from pyserving.apis.tensor_proto import TensorProtoError, array_to_tensor, tensor_to_array
from pyserving.core.errors import InvalidArgumentError, UnimplementedError
from pyserving.core.ids import ServableRequest
from pyserving.protocols.grpc.errors import rpc
from pyserving.protos.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from pyserving.serving import inference
from pyserving.serving.model_status import model_metadata
from pyserving.serving.server_core import ServerCore
from pyserving.tensors.limits import TensorLimits
from pyserving.tensors.signature import Signature

if TYPE_CHECKING:
    from pyserving.core.manager import ServableHandle

CLASSIFY_METHOD = inference.CLASSIFY_METHOD
REGRESS_METHOD = inference.REGRESS_METHOD
SIGNATURE_DEF_FIELD = "signature_def"

# Outputs with more elements than this are encoded on the inference executor,
# so a huge int/bool/string response does not stall the event loop.
_ENCODE_INLINE_MAX_ELEMENTS = 1 << 18


def servable_request(core: ServerCore, request: Any) -> ServableRequest:
    """ModelSpec -> ServableRequest with TF Serving's checks (labels resolve here)."""
    if not request.HasField("model_spec"):
        raise InvalidArgumentError("Missing ModelSpec")
    return spec_request(core, request.model_spec)


def spec_request(core: ServerCore, spec: Any) -> ServableRequest:
    if not spec.name:
        raise InvalidArgumentError("ModelSpec has no name specified.")
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return core.resolve(spec.name, spec.version.value)
    if choice == "version_label":
        return core.resolve(spec.name, label=spec.version_label)
    return core.resolve(spec.name)


def timeout_in_ms(context: grpc.aio.ServicerContext) -> int:
    """The client's deadline as a run timeout in ms (0: none)."""
    remaining = context.time_remaining()
    return 0 if remaining is None else max(1, int(remaining * 1000))


def _fill_model_spec(spec: Any, name: str, version: int, signature_name: str | None) -> None:
    """TF Serving's MakeModelSpec: name as requested, version used, resolved signature."""
    spec.name = name
    spec.version.value = version
    if signature_name is not None:
        spec.signature_name = signature_name or inference.DEFAULT_SIGNATURE


def decode_inputs(inputs: Mapping[str, Any], limits: TensorLimits) -> dict[str, np.ndarray]:
    """TensorProtos to arrays; TF Serving's "tensor parsing error: <alias>", then why."""
    arrays = {}
    for alias, proto in inputs.items():
        try:
            arrays[alias] = tensor_to_array(proto, limits)
        except TensorProtoError as exc:
            raise InvalidArgumentError(f"tensor parsing error: {alias}: {exc}") from None
        except MemoryError:
            raise InvalidArgumentError(f"tensor parsing error: {alias}: out of memory") from None
    return arrays


def encode_outputs(
    outputs: Mapping[str, np.ndarray], keys: Sequence[str], response: Any, use_tensor_content: bool
) -> None:
    for alias in keys:
        array_to_tensor(outputs[alias], use_tensor_content, out=response.outputs[alias])


def _fill_classifications(result: Any, rows: Sequence[Sequence[inference.Classification]]) -> None:
    for row in rows:
        classifications = result.classifications.add()
        for item in row:
            label = item.label
            if isinstance(label, bytes):
                label = label.decode("utf-8", "replace")
            classifications.classes.add(label=label, score=item.score)


def _fill_regressions(result: Any, values: Sequence[float]) -> None:
    for value in values:
        result.regressions.add(value=value)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """One instance per server; every method runs on the event loop."""

    def __init__(self, core: ServerCore, use_tensor_content: bool = False) -> None:
        self.core = core
        self.use_tensor_content = use_tensor_content

    @rpc
    async def Predict(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        core = self.core
        servable = servable_request(core, request)
        signature_name = request.model_spec.signature_name or inference.DEFAULT_SIGNATURE
        with core.acquire(servable) as handle:
            signature = inference.signature_for_predict(handle.servable, signature_name)
            inputs = decode_inputs(request.inputs, core.options.tensor_limits)
            inference.check_predict_inputs(signature, inputs)
            output_keys = inference.select_outputs(signature, list(request.output_filter))
            outputs = await inference.run_signature(
                core, handle, signature, inputs, output_keys, timeout_in_ms(context)
            )
            version = handle.id.version
        response = predict_pb2.PredictResponse()
        _fill_model_spec(response.model_spec, request.model_spec.name, version, signature_name)
        if sum(np.size(outputs[k]) for k in output_keys) > _ENCODE_INLINE_MAX_ELEMENTS:
            await core.run_blocking(encode_outputs, outputs, output_keys, response, self.use_tensor_content)
        else:
            encode_outputs(outputs, output_keys, response, self.use_tensor_content)
        return response

    @rpc
    async def Classify(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        core = self.core
        with core.acquire(servable_request(core, request)) as handle:
            signature = inference.classification_signature(handle.servable, request.model_spec.signature_name)
            rows = await inference.classify(
                core, handle, signature, serialized_examples(request.input), timeout_in_ms(context)
            )
            version = handle.id.version
        response = classification_pb2.ClassificationResponse()
        _fill_model_spec(response.model_spec, request.model_spec.name, version, request.model_spec.signature_name)
        _fill_classifications(response.result, rows)
        return response

    @rpc
    async def Regress(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        core = self.core
        with core.acquire(servable_request(core, request)) as handle:
            signature = inference.regression_signature(handle.servable, request.model_spec.signature_name)
            values = await inference.regress(
                core, handle, signature, serialized_examples(request.input), timeout_in_ms(context)
            )
            version = handle.id.version
        response = regression_pb2.RegressionResponse()
        _fill_model_spec(response.model_spec, request.model_spec.name, version, request.model_spec.signature_name)
        _fill_regressions(response.result, values)
        return response

    @rpc
    async def MultiInference(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        core = self.core
        if not request.tasks:
            raise InvalidArgumentError("MultiInferenceRequest must specify at least one task.")
        servable = spec_request(core, request.tasks[0].model_spec)
        examples = serialized_examples(request.input)
        timeout = timeout_in_ms(context)
        response = inference_pb2.MultiInferenceResponse()
        with core.acquire(servable) as handle:
            signatures = _multi_inference_signatures(handle, request.tasks)
            # TF Serving fetches every task's outputs in one session run; we run one
            # signature per task on the same input (identical for stateless models).
            for task, signature in zip(request.tasks, signatures, strict=True):
                result = response.results.add()
                if task.method_name == CLASSIFY_METHOD:
                    rows = await inference.classify(core, handle, signature, examples, timeout)
                    _fill_classifications(result.classification_result, rows)
                else:
                    values = await inference.regress(core, handle, signature, examples, timeout)
                    _fill_regressions(result.regression_result, values)
                _fill_model_spec(
                    result.model_spec, task.model_spec.name, handle.id.version, task.model_spec.signature_name
                )
        return response

    @rpc
    async def GetModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if not request.HasField("model_spec"):
            raise InvalidArgumentError("Missing ModelSpec")
        if not request.metadata_field:
            raise InvalidArgumentError("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise InvalidArgumentError(f"Metadata field {field} is not supported")
        servable_id, signature_defs = model_metadata(self.core, servable_request(self.core, request))
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _fill_model_spec(response.model_spec, request.model_spec.name, servable_id.version, None)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature_def in signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature_def)
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
        return response


def _multi_inference_signatures(handle: ServableHandle, tasks: Sequence[Any]) -> list[Signature]:
    """TensorFlowMultiInferenceRunner's checks, in its order, before anything runs."""
    model_name = ""
    seen: set[str] = set()
    signatures = []
    for task in tasks:
        spec = task.model_spec
        if not spec.name:
            raise InvalidArgumentError("Found ModelSpec with an empty model name.")
        if not model_name:
            model_name = spec.name
        elif spec.name != model_name:
            raise InvalidArgumentError("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
        name = spec.signature_name or inference.DEFAULT_SIGNATURE
        if name in seen:
            raise InvalidArgumentError(f"Duplicate evaluation of signature: {name}")
        seen.add(name)
        if name not in handle.servable.signatures:
            raise InvalidArgumentError(f"Requested signature not found in model graph: {name}")
        if task.method_name == CLASSIFY_METHOD:
            signature = inference.classification_signature(handle.servable, name)
        elif task.method_name == REGRESS_METHOD:
            signature = inference.regression_signature(handle.servable, name)
        else:
            raise UnimplementedError(f"Unsupported signature method_name: {task.method_name}")
        # TF1 exports share one input tensor; a TF2 export gives each signature its own
        # (``classify_x_to_y_inputs:0``): every task is fed the same serialized examples.
        signatures.append(signature)
    return signatures
