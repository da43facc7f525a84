"""OIP v2 model metadata as the gateway's :class:`Signature`.

The tensors themselves go through the one OIP codec, ``pyserving.client.oip_tensors`` (the
client's, which the server wraps too): binary HTTP chunks and gRPC raw contents are
byte-identical (``docs/gateway.md``). Only the step from OIP metadata to TF dtypes is the
gateway's own, because its signatures speak TF dtypes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pyserving.apis.oip_datatypes import OIP_TO_TF
from pyserving.client.oip_tensors import OipTensorError
from pyserving.tensors.signature import Signature, TensorSpec


def signature_from_metadata(
    name: str, inputs: Iterable[Mapping[str, Any]], outputs: Iterable[Mapping[str, Any]]
) -> Signature:
    """OIP model metadata (``inputs``/``outputs`` with name, datatype, shape) as a Signature.

    OIP serves one function per model, so the signature keeps the route's
    name (``serving_default``) and has no method name.
    """

    def specs(tensors: Iterable[Mapping[str, Any]]) -> dict[str, TensorSpec]:
        out = {}
        for tensor in tensors:
            datatype = str(tensor["datatype"])
            if datatype not in OIP_TO_TF:
                raise OipTensorError(f"tensor {tensor['name']!r} has unknown datatype {datatype!r}")
            out[str(tensor["name"])] = TensorSpec(
                str(tensor["name"]), int(OIP_TO_TF[datatype]), tuple(int(d) for d in tensor["shape"])
            )
        return out

    return Signature(name, "", specs(inputs), specs(outputs))
