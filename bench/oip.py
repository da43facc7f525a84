"""OIP v2 (KServe V2 / Triton) for the benchmark suite: request bodies, answer checks, the Triton peer.

Three wire forms of the same request, as stock clients send them:

* REST JSON: ``{"inputs": [{"name": "x", "datatype": "FP32", "shape": [rows, width], "data": [...]}]}``
  (``tritonclient.http`` with ``binary_data=False``), flat ``data``, outputs as JSON;
* REST binary: Triton's binary tensor extension as ``tritonclient.http`` sends it by default: the JSON
  header (``binary_data_size`` per input, ``binary_data_output: true``), then the float32 bytes, with
  ``Inference-Header-Content-Length`` naming the header's length;
* gRPC: a serialized ``inference.ModelInferRequest`` with ``raw_input_contents`` (what
  ``tritonclient.grpc`` sends), called at ``/inference.GRPCInferenceService/ModelInfer``.

Triton (``../shared/bench/triton``) runs from the virtualenv its ``serve.sh`` makes; without it the
Triton rows are skipped with the reason (``tests.helpers.triton.unavailable``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

MODEL_INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
HEADER_LENGTH = "Inference-Header-Content-Length"


def _values(rows: int, width: int, seed: int) -> np.ndarray:
    """The same values as the TF Serving REST bodies (rounded to 4 decimals), as float32."""
    return np.round(np.random.default_rng(seed).uniform(-1, 1, (rows, width)), 4).astype(np.float32)


def json_body(rows: int, width: int, seed: int = 0) -> bytes:
    values = _values(rows, width, seed)
    tensor = {"name": "x", "datatype": "FP32", "shape": [rows, width], "data": values.reshape(-1).tolist()}
    return json.dumps({"inputs": [tensor]}).encode()


def binary_body(rows: int, width: int, seed: int = 0) -> tuple[bytes, int]:
    """The body and the value of its Inference-Header-Content-Length header."""
    raw = _values(rows, width, seed).astype("<f4").tobytes()
    header = {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [rows, width], "parameters": {"binary_data_size": len(raw)}}
        ],
        "parameters": {"binary_data_output": True},
    }
    text = json.dumps(header).encode()
    return text + raw, len(text)


def infer_request_bytes(model: str, rows: int, width: int, seed: int = 0) -> bytes:
    """A serialized ModelInferRequest, the input in raw_input_contents."""
    from pyserving.protos.inference import grpc_service_pb2 as service_pb2

    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name="x", datatype="FP32", shape=[rows, width])
    request.raw_input_contents.append(_values(rows, width, seed).astype("<f4").tobytes())
    return request.SerializeToString()


def rest_answer_rows(content: bytes, header_length: str | None) -> int:
    """The first dimension of the first output of a REST infer answer (JSON or binary)."""
    n = len(content) if header_length is None else int(header_length)
    return int(json.loads(content[:n])["outputs"][0]["shape"][0])


def grpc_answer_rows(content: bytes) -> int:
    from pyserving.protos.inference import grpc_service_pb2 as service_pb2

    response = service_pb2.ModelInferResponse.FromString(content)
    if len(response.raw_output_contents) != len(response.outputs):
        raise RuntimeError("ModelInfer answered without raw_output_contents")
    return int(response.outputs[0].shape[0])


def tree_usage(root: int) -> tuple[int, float]:
    """A process and all its descendants: how many, and their summed resident memory (MiB), from /proc.

    The tree, not the process group: pyserving's workers and Triton's backend stubs are children
    of the server, whatever their session.
    """
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = set(), [root]
    while frontier:
        pid = frontier.pop()
        if pid in tree or (pid != root and pid not in parents):
            continue
        tree.add(pid)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    count, rss_pages = 0, 0
    for pid in tree:
        try:
            rss_pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            count += 1
        except (OSError, ValueError, IndexError):
            continue
    return count, rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
