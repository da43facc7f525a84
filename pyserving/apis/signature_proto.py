"""Signature (backend-neutral) -> TF SignatureDef proto, for backends that have none of their own.

Why: GetModelMetadata and the REST metadata answer with SignatureDefs whatever the platform,
so every TF Serving client reads an ONNX or Python model's inputs and outputs the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyserving.tensors.signature import Signature, TensorSpec


def signature_defs(signatures: Mapping[str, Signature]) -> dict[str, Any]:
    from pyserving.protos.tensorflow.core.protobuf import meta_graph_pb2

    out = {}
    for key, signature in signatures.items():
        proto = meta_graph_pb2.SignatureDef(method_name=signature.method_name)
        for target, specs in ((proto.inputs, signature.inputs), (proto.outputs, signature.outputs)):
            for alias, spec in specs.items():
                _fill(target[alias], spec)
        out[key] = proto
    return out


def _fill(info: Any, spec: TensorSpec) -> None:
    info.name, info.dtype = spec.name, spec.dtype
    if spec.shape is None:
        info.tensor_shape.unknown_rank = True
        return
    info.tensor_shape.SetInParent()
    for size in spec.shape:
        info.tensor_shape.dim.add(size=size)
