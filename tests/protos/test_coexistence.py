"""pyserving.protos beside TensorFlow, tensorflow-serving-api and tritonclient in one process.

Each case runs in a child interpreter: the order of imports is the point, and this process may have
imported any of them already. The children print JSON facts; the assertions are made here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyserving.protos import _registry

ROOT = Path(__file__).resolve().parents[2]

_OURS = """
import importlib, pkgutil
import pyserving.protos as package
ours = [importlib.import_module(i.name) for i in pkgutil.walk_packages(package.__path__, "pyserving.protos.")
        if i.name.endswith(("_pb2", "_pb2_grpc"))]
"""
_TF_SERVING = """
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
    inference_pb2, model_service_pb2_grpc, predict_pb2, prediction_log_pb2, prediction_service_pb2_grpc,
    regression_pb2, session_service_pb2)
from tensorflow_serving.config import model_server_config_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
"""
_TRITON = """
import tritonclient.grpc
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
"""


def run_child(code: str, env: dict[str, str] | None = None) -> dict:
    """Runs ``code`` in a fresh interpreter; its last stdout line is JSON."""
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=180,
        env=environ,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


_TF_CHECKS = """
import json
from pyserving.protos.tensorflow_serving.apis import predict_pb2 as our_predict, prediction_service_pb2_grpc as our_grpc
from pyserving.protos.tensorflow.core.framework import tensor_pb2 as our_tensor
from pyserving.protos.tensorflow.core.protobuf import saved_model_pb2 as our_saved_model
request = predict_pb2.PredictRequest()
request.model_spec.name = "m"
request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0, 2.0]], dtype=tf.float32))
parsed = our_predict.PredictRequest.FromString(request.SerializeToString())
ours_request = our_predict.PredictRequest()
ours_request.inputs["x"].CopyFrom(parsed.inputs["x"])
print(json.dumps({
    "modules": len(ours),
    "same_classes": [predict_pb2.PredictRequest is our_predict.PredictRequest,
                     saved_model_pb2.SavedModel is our_saved_model.SavedModel,
                     prediction_log_pb2.PredictionLog.DESCRIPTOR.fields_by_name["predict_log"].message_type.fields_by_name[
                         "request"].message_type is our_predict.PredictRequest.DESCRIPTOR],
    "parsed": tf.make_ndarray(parsed.inputs["x"]).tolist(),
    "model": parsed.model_spec.name,
    "theirs_from_ours": tf.make_ndarray(ours_request.inputs["x"]).tolist(),
    "tensor_bytes_equal": our_tensor.DESCRIPTOR.serialized_pb == tf.make_tensor_proto(1.0).DESCRIPTOR.file.serialized_pb,
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("order", ["tensorflow first", "pyserving first"])
def test_with_tensorflow_in_either_order(order: str) -> None:
    first, second = (_TF_SERVING, _OURS) if order == "tensorflow first" else (_OURS, _TF_SERVING)
    facts = run_child(first + second + _TF_CHECKS)
    assert facts["modules"] >= 60
    assert facts["same_classes"] == [True, True, True]
    assert facts["parsed"] == [[1.0, 2.0]] and facts["model"] == "m"
    assert facts["theirs_from_ours"] == [[1.0, 2.0]]
    assert facts["tensor_bytes_equal"]


_TRITON_CHECKS = """
import json
import numpy as np
from pyserving.protos.inference import grpc_service_pb2 as ours, grpc_service_pb2_grpc as our_grpc
request = service_pb2.ModelInferRequest(model_name="m")
tensor = request.inputs.add(name="x", datatype="FP32", shape=[2])
request.raw_input_contents.append(np.array([1.0, 2.0], dtype=np.float32).tobytes())
parsed = ours.ModelInferRequest.FromString(request.SerializeToString())
back = service_pb2.ModelInferRequest.FromString(parsed.SerializeToString())
print(json.dumps({
    "same_classes": [ours.ModelInferRequest is service_pb2.ModelInferRequest,
                     our_grpc.GRPCInferenceServiceStub.__name__ == service_pb2_grpc.GRPCInferenceServiceStub.__name__],
    "parsed": [parsed.model_name, parsed.inputs[0].datatype, list(parsed.inputs[0].shape),
               np.frombuffer(back.raw_input_contents[0], dtype=np.float32).tolist()],
    "tensorflow_imported": "tensorflow" in sys.modules,
}))
"""


@pytest.mark.parametrize("order", ["tritonclient first", "pyserving first"])
def test_with_tritonclient_in_either_order(order: str) -> None:
    first, second = (_TRITON, _OURS) if order == "tritonclient first" else (_OURS, _TRITON)
    facts = run_child("import sys\n" + first + second + _TRITON_CHECKS)
    assert facts["same_classes"] == [True, True]
    assert facts["parsed"] == ["m", "FP32", [2], [1.0, 2.0]]
    assert not facts["tensorflow_imported"]


def test_serialized_by_one_process_parsed_by_the_other() -> None:
    """No shared pool: pyserving alone writes, tensorflow-serving-api alone reads, and back."""
    written = run_child(
        """
        import json, sys
        import numpy as np
        from pyserving.apis.tensor_proto import array_to_tensor
        from pyserving.protos.tensorflow_serving.apis import predict_pb2
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "m"
        request.model_spec.signature_name = "serving_default"
        request.inputs["x"].CopyFrom(array_to_tensor(np.array([[1.5, -2.0]], dtype=np.float32)))
        request.inputs["s"].CopyFrom(array_to_tensor(np.array([b"a", b"bc"], dtype=object)))
        print(json.dumps({"hex": request.SerializeToString().hex(),
                          "tf": "tensorflow" in sys.modules or "tensorflow_serving" in sys.modules}))
        """
    )
    assert not written["tf"]
    read = run_child(
        _TF_SERVING
        + f"""
import json, sys
request = predict_pb2.PredictRequest.FromString(bytes.fromhex({written["hex"]!r}))
response = predict_pb2.PredictResponse()
response.outputs["y"].CopyFrom(tf.make_tensor_proto([[3.0, 4.5]], dtype=tf.float64))
print(json.dumps({{"x": tf.make_ndarray(request.inputs["x"]).tolist(),
                  "s": [v.decode() for v in tf.make_ndarray(request.inputs["s"]).tolist()],
                  "spec": [request.model_spec.name, request.model_spec.signature_name],
                  "pyserving": any(m.startswith("pyserving") for m in sys.modules),
                  "reply": response.SerializeToString().hex()}}))
"""
    )
    assert read["x"] == [[1.5, -2.0]] and read["s"] == ["a", "bc"]
    assert read["spec"] == ["m", "serving_default"] and not read["pyserving"]
    back = run_child(
        f"""
        import json
        from pyserving.apis.tensor_proto import tensor_to_array
        from pyserving.protos.tensorflow_serving.apis import predict_pb2
        reply = predict_pb2.PredictResponse.FromString(bytes.fromhex({read["reply"]!r}))
        array = tensor_to_array(reply.outputs["y"])
        print(json.dumps({{"y": array.tolist(), "dtype": str(array.dtype)}}))
        """
    )
    assert back == {"y": [[3.0, 4.5]], "dtype": "float64"}


def test_the_embedded_files_are_the_installed_wheels_own() -> None:
    """Byte-identical copies are what the pool accepts twice: a regenerated module must stay so."""
    import importlib
    import pkgutil

    import pyserving.protos as package

    compared = 0
    for info in pkgutil.walk_packages(package.__path__, "pyserving.protos."):
        if not info.name.endswith("_pb2"):
            continue
        file = importlib.import_module(info.name).DESCRIPTOR
        installed = _registry.installed_copy(file.name)
        if installed is not None:
            assert installed == file.serialized_pb, file.name
            compared += 1
    assert compared >= 58  # all but monitoring_config and ssl_config, which no wheel ships


def _fake_release(tmp_path: Path) -> Path:
    """A ``tensorflow`` package whose tensor.proto differs from pyserving's (and registers itself)."""
    from google.protobuf import descriptor_pb2

    from pyserving.protos.tensorflow.core.framework import tensor_pb2

    proto = descriptor_pb2.FileDescriptorProto.FromString(tensor_pb2.DESCRIPTOR.serialized_pb)
    proto.message_type[0].field.add(name="from_another_release", number=999, type=9, label=1)
    differing = proto.SerializeToString()
    folder = tmp_path / "tensorflow" / "core" / "framework"
    folder.mkdir(parents=True)
    for init in (tmp_path / "tensorflow", tmp_path / "tensorflow" / "core", folder):
        (init / "__init__.py").write_text("")
    (folder / "tensor_pb2.py").write_text(
        "from google.protobuf import descriptor_pool\n"
        "from google.protobuf.internal import builder\n"
        "from pyserving.protos.tensorflow.core.framework import resource_handle_pb2, tensor_shape_pb2, types_pb2\n"
        f"DESCRIPTOR = descriptor_pool.Default().AddSerializedFile({differing!r})\n"
        "builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, globals())\n"
        "builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'tensorflow.core.framework.tensor_pb2', globals())\n"
    )
    return tmp_path


@pytest.mark.parametrize("order", ["other release first", "pyserving first"])
def test_a_differing_release_of_a_file_in_either_order(tmp_path: Path, order: str) -> None:
    """Another release's copy is reused when first, and registered in place of ours when installed."""
    fake = _fake_release(tmp_path)
    theirs = "from tensorflow.core.framework import tensor_pb2 as theirs\n"
    ours = "from pyserving.protos.tensorflow_serving.apis import predict_pb2\n"
    facts = run_child(
        (theirs + ours if order == "other release first" else ours + theirs)
        + """
import json
from pyserving.protos.tensorflow.core.framework import tensor_pb2 as mine
request = predict_pb2.PredictRequest()
request.inputs["x"].from_another_release = "kept"
print(json.dumps({"same": mine.TensorProto is theirs.TensorProto,
                  "field": predict_pb2.PredictRequest.FromString(request.SerializeToString()).inputs["x"].from_another_release}))
""",
        env={"PYTHONPATH": f"{fake}{os.pathsep}{ROOT}"},
    )
    assert facts == {"same": True, "field": "kept"}
