"""Predict, classify and regress: TF Serving's checks and texts, in one place for every caller.

REST, gRPC and warmup find signatures and check inputs and outputs here; each protocol passes
in only what it words differently (a missing signature: :class:`MissingSignature`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pyserving.core.errors import FailedPreconditionError, InvalidArgumentError, ServingError
from pyserving.core.loader import Servable
from pyserving.core.manager import ServableHandle
from pyserving.tensors.dtypes import DataType, base_dtype, enum_name, from_numpy, short_name
from pyserving.tensors.shapes import dims_text
from pyserving.tensors.signature import Signature

if TYPE_CHECKING:  # server_core imports warmup, which uses this module
    from pyserving.serving.server_core import ServerCore

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

#: (signature key, hint listing the model's signatures) -> the error a protocol answers.
MissingSignature = Callable[[str, str], ServingError]


def grpc_predict_missing(key: str, hint: str) -> ServingError:
    return FailedPreconditionError(f'Serving signature key "{key}" not found.{hint}')


def rest_predict_missing(key: str, hint: str) -> ServingError:
    return InvalidArgumentError(f'Serving signature name: "{key}" not found in signature def.{hint}')


def by_name_missing(key: str, hint: str) -> ServingError:
    """Classify, regress and MultiInference, over both protocols."""
    return InvalidArgumentError(f"No signature was found with the name: {key}.{hint}")


def find_signature(servable: Servable, name: str, missing: MissingSignature) -> Signature:
    """The signature ``name`` (``serving_default`` when empty), or the protocol's error."""
    key = name or DEFAULT_SIGNATURE
    signature: Signature | None = servable.signatures.get(key)
    if signature is None:
        raise missing(key, signatures_hint(servable))
    return signature


def signature_for_predict(servable: Servable, name: str) -> Signature:
    """gRPC Predict's (and warmup's) lookup."""
    return find_signature(servable, name, grpc_predict_missing)


def signatures_hint(servable: Servable) -> str:
    """Appended to TF Serving's "signature not found" texts: the names a request may use."""
    return f" Signatures of this model: {', '.join(sorted(servable.signatures)) or 'none'}."


def signature_def_text(signature: Signature) -> str:
    """The SignatureDef as protobuf text, as TF Serving's ``DebugString()`` prints it in errors."""

    def tensors(field: str, specs: Mapping[str, Any]) -> list[str]:
        lines = []
        for alias in sorted(specs):
            spec = specs[alias]
            if spec.shape is None:
                shape = ["    tensor_shape {", "      unknown_rank: true", "    }"]
            else:
                dims = [f"      dim {{\n        size: {d}\n      }}" for d in spec.shape]
                shape = ["    tensor_shape {", *dims, "    }"]
            lines += [
                f"{field} {{",
                f'  key: "{alias}"',
                "  value {",
                f'    name: "{spec.name}"',
                f"    dtype: {enum_name(spec.dtype)}",
                *shape,
                "  }",
                "}",
            ]
        return lines

    lines = tensors("inputs", signature.inputs) + tensors("outputs", signature.outputs)
    return "\n".join([*lines, f'method_name: "{signature.method_name}"']) + "\n"


def select_outputs(signature: Signature, output_filter: Sequence[str]) -> list[str]:
    if not output_filter:
        return sorted(signature.outputs)
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in signature.outputs:
            raise InvalidArgumentError(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{','.join(sorted(signature.outputs))}}}."
            )
        if alias in seen:
            raise InvalidArgumentError(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return list(output_filter)


def check_predict_inputs(signature: Signature, inputs: Mapping[str, np.ndarray]) -> None:
    """Input names and dtypes, as TF Serving's Predict checks them before running."""
    sent, expected = set(inputs), set(signature.inputs)
    if sent != expected and not (signature.defaults and sent < expected):
        if len(sent) != len(expected) or not signature.defaults:
            extra = ",".join(sorted(sent - expected))
            missing = ",".join(sorted(expected - sent))
            raise InvalidArgumentError(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{extra}}}. Missing but required: {{{missing}}}."
            )
    for alias in expected - sent:
        if alias not in signature.defaults:
            spec = signature.inputs[alias]
            raise InvalidArgumentError(
                f"Signature input alias: {alias}(feed name: {spec.name}) not found in request and "
                f"no default value provided. Inputs expected to be in the request "
                f"{{{','.join(sorted(sent))}}}, or default input alias set: "
                f"{','.join(sorted(signature.defaults))}"
            )
    for index, alias in enumerate(sorted(sent)):
        expected_dtype = base_dtype(signature.inputs[alias].dtype)
        actual = from_numpy(inputs[alias].dtype)
        if actual != expected_dtype:
            raise InvalidArgumentError(
                f"Expects arg[{index}] to be {short_name(expected_dtype)} but "
                f"{short_name(actual)} is provided (input '{alias}')"
            )


async def run_signature(
    core: ServerCore,
    handle: ServableHandle,
    signature: Signature,
    inputs: Mapping[str, np.ndarray],
    output_keys: Sequence[str],
    timeout_in_ms: int = 0,
) -> dict[str, Any]:
    return await core.run(handle, signature.name, inputs, output_keys, timeout_in_ms)


# -- classify / regress ----------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    label: str | bytes
    score: float


def _example_signature(servable: Servable, name: str, kind: str) -> Signature:
    """A signature fed one batch of serialized tf.Examples under the alias ``inputs``."""
    signature = find_signature(servable, name, by_name_missing)
    if len(signature.inputs) != 1 or "inputs" not in signature.inputs:
        hint = (
            f" Signature '{signature.name}' ({signature.method_name}) takes "
            f"{', '.join(sorted(signature.inputs)) or 'no inputs'}; {kind} needs one input 'inputs' "
            f"of serialized tf.Examples: call :predict for this signature, or name another one."
        )
        if len(signature.inputs) != 1:
            raise InvalidArgumentError(f"Expected one input Tensor.{hint}")
        raise InvalidArgumentError(
            f"No {kind} inputs found in SignatureDef: {signature_def_text(signature)}{hint.lstrip()}"
        )
    return signature


def classification_signature(servable: Servable, name: str) -> Signature:
    signature = _example_signature(servable, name, "classification")
    if not 1 <= len(signature.outputs) <= 2:
        raise InvalidArgumentError(f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if "classes" not in signature.outputs and "scores" not in signature.outputs:
        raise InvalidArgumentError(
            'Expected classification signature outputs to contain at least one of "classes" or '
            f'"scores". Signature was: {signature_def_text(signature)}'
        )
    return signature


def regression_signature(servable: Servable, name: str) -> Signature:
    signature = _example_signature(servable, name, "regression")
    if len(signature.outputs) != 1:
        raise InvalidArgumentError("Expected one output Tensor.")
    if "outputs" not in signature.outputs:
        raise InvalidArgumentError(f"No regression outputs found in SignatureDef: {signature_def_text(signature)}")
    return signature


def examples_tensor(examples: Sequence[bytes]) -> dict[str, np.ndarray]:
    """Serialized tf.Examples as the one input ``inputs`` of a classify or regress signature."""
    if not examples:
        raise InvalidArgumentError("Input is empty.")
    array = np.empty(len(examples), dtype=object)
    array[:] = list(examples)
    return {"inputs": array}


async def classify(
    core: ServerCore,
    handle: ServableHandle,
    signature: Signature,
    examples: Sequence[bytes],
    timeout_in_ms: int = 0,
) -> list[list[Classification]]:
    outputs = await run_signature(
        core, handle, signature, examples_tensor(examples), sorted(signature.outputs), timeout_in_ms
    )
    batch = len(examples)
    classes = outputs.get("classes")
    scores = outputs.get("scores")
    num_classes = None
    for tensor in (classes, scores):
        if tensor is None:
            continue
        if tensor.ndim != 2:
            raise InvalidArgumentError(
                f"Expected Tensor shape: [batch_size num_classes] but got {dims_text(tensor.shape)}"
            )
        if tensor.shape[0] != batch:
            raise InvalidArgumentError(f"Expected scores output batch size of {batch}. Got: {tensor.shape[0]}")
        if num_classes is not None and tensor.shape[1] != num_classes:
            raise InvalidArgumentError(
                f"Tensors class and score should match in dim_size(1). Got {num_classes} vs. {tensor.shape[1]}"
            )
        num_classes = tensor.shape[1]
    assert num_classes is not None
    if scores is not None and base_dtype(signature.outputs["scores"].dtype) != DataType.DT_FLOAT:
        raise InvalidArgumentError("Expected scores Tensor of DT_FLOAT.")
    results = []
    for i in range(batch):
        row = []
        for j in range(num_classes):
            label = classes[i, j] if classes is not None else ""
            score = float(scores[i, j]) if scores is not None else 0.0
            row.append(Classification(label, score))
        results.append(row)
    return results


async def regress(
    core: ServerCore,
    handle: ServableHandle,
    signature: Signature,
    examples: Sequence[bytes],
    timeout_in_ms: int = 0,
) -> list[float]:
    outputs = await run_signature(core, handle, signature, examples_tensor(examples), ["outputs"], timeout_in_ms)
    values = outputs["outputs"]
    batch = len(examples)
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise InvalidArgumentError(
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got {dims_text(values.shape)}"
        )
    if values.shape[0] != batch:
        raise InvalidArgumentError(f"Input batch size did not match output batch size: {batch} vs. {values.shape[0]}")
    if values.dtype != np.float32:
        raise InvalidArgumentError("Expected output Tensor of DT_FLOAT.")
    return [float(v) for v in values.reshape(-1)]
