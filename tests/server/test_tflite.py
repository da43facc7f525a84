"""--prefer_tflite_model: model.tflite version folders served as TF Serving serves them."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import requests

from tests.conftest import write_model_config
from tests.helpers.server import RunningServer, start_server
from tests.helpers.shared import TFSERVING_TESTDATA, requires_shared


def export_tflite_half_plus_two(path: Path) -> Path:
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
    def half_plus_two(x: tf.Tensor) -> tf.Tensor:
        return tf.identity(0.5 * x + 2.0, name="y")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [half_plus_two.get_concrete_function()], half_plus_two
        )
        data = converter.convert()
    path.mkdir(parents=True)
    (path / "model.tflite").write_bytes(data)
    return path


def export_tflite_with_signature_defs(path: Path) -> Path:
    """model.tflite with a ``signature_defs_metadata`` entry, as TF Serving's testdata has one.

    Two SignatureDefs over the same tensors: ``serving_default`` (x -> y) and
    ``renamed`` (in -> out). The entry is what TF Lite's signature_def_util writes: a
    flexbuffer map of key to serialized SignatureDef (as a flexbuffer string, so the
    shapes here keep the serialization valid UTF-8), tensor names with TF's ``:0``.
    """
    import tensorflow as tf
    from flatbuffers import flexbuffers
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="tflite_input")])
    def half_plus_two(x: tf.Tensor) -> tf.Tensor:
        return 0.5 * x + 2.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [half_plus_two.get_concrete_function()], half_plus_two
        )
        data = converter.convert()
        interpreter = tf.lite.Interpreter(model_content=data)
    [tensor_in] = [d["name"] for d in interpreter.get_input_details()]
    [tensor_out] = [d["name"] for d in interpreter.get_output_details()]
    assert tensor_in == "tflite_input"

    def signature_def(alias_in: str, alias_out: str) -> str:
        proto = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
        for infos, alias, name in ((proto.inputs, alias_in, tensor_in), (proto.outputs, alias_out, tensor_out)):
            infos[alias].name = f"{name}:0"
            infos[alias].dtype = tf.float32.as_datatype_enum
            infos[alias].tensor_shape.dim.add(size=1)
            infos[alias].tensor_shape.dim.add(size=1)
        return proto.SerializeToString().decode("utf-8")

    builder = flexbuffers.Builder()
    with builder.Map():
        builder.String("serving_default", signature_def("x", "y"))
        builder.String("renamed", signature_def("in", "out"))
    model = flatbuffer_utils.read_model_from_bytearray(data)
    buffer = schema.BufferT()
    buffer.data = list(builder.Finish())
    model.buffers.append(buffer)
    metadata = schema.MetadataT()
    metadata.name = "signature_defs_metadata"
    metadata.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), metadata]
    path.mkdir(parents=True)
    (path / "model.tflite").write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    return path


def _serve_lite(tmp_path: Path) -> RunningServer:
    """The model.tflite under ``tmp_path/lite``, served as ``lite`` (REST only)."""
    return start_server(
        ["--model_name=lite", f"--model_base_path={tmp_path / 'lite'}", "--prefer_tflite_model"],
        tmp_path,
        wait_models=["lite"],
        grpc=False,
    )


def test_signature_defs_metadata_gives_the_aliases(tmp_path: Path) -> None:
    export_tflite_with_signature_defs(tmp_path / "lite" / "1")
    server = _serve_lite(tmp_path)
    try:
        meta = requests.get(f"{server.rest_url}/v1/models/lite/metadata", timeout=10).json()
        signatures = meta["metadata"]["signature_def"]["signature_def"]
        assert sorted(signatures) == ["renamed", "serving_default"]
        assert signatures["serving_default"]["inputs"]["x"]["name"] == "tflite_input:0"
        url = f"{server.rest_url}/v1/models/lite:predict"
        r = requests.post(url, json={"instances": [[1.0], [2.0], [4.0]]}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json() == {"predictions": [[2.5], [3.0], [4.0]]}
        r = requests.post(url, json={"inputs": {"x": [[2.0]]}}, timeout=10)
        assert r.json() == {"outputs": [[3.0]]}, r.text
        r = requests.post(url, json={"signature_name": "renamed", "inputs": {"in": [[2.0]]}}, timeout=10)
        assert r.json() == {"outputs": [[3.0]]}, r.text
        r = requests.post(url, json={"inputs": {"tflite_input": [[2.0]]}}, timeout=10)
        assert r.status_code == 400
        assert r.json() == {"error": "Missing named input: x in 'inputs' object."}
    finally:
        server.stop()


def test_own_tflite_model_serves_and_resizes_the_batch(tmp_path: Path) -> None:
    export_tflite_half_plus_two(tmp_path / "lite" / "1")
    server = _serve_lite(tmp_path)
    try:
        meta = requests.get(f"{server.rest_url}/v1/models/lite/metadata", timeout=10).json()
        signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
        [alias] = signature["inputs"]
        for rows in ([[2.0]], [[2.0], [3.0], [4.0]]):
            r = requests.post(f"{server.rest_url}/v1/models/lite:predict", json={"inputs": {alias: rows}}, timeout=10)
            assert r.status_code == 200, r.text
            [values] = r.json()["outputs"].values() if isinstance(r.json()["outputs"], dict) else [r.json()["outputs"]]
            assert values == [[0.5 * row[0] + 2.0] for row in rows]
    finally:
        server.stop()


@requires_shared
def test_tf_servings_tflite_testdata(tmp_path: Path) -> None:
    names = {
        "lite": "saved_model_half_plus_two_tflite",
        "lite_sigdef": "saved_model_half_plus_two_tflite_with_sigdef",
        "parse_example": "parse_example_tflite",
        "saved_model": "saved_model_half_plus_two_cpu",
    }
    config = write_model_config(
        tmp_path / "m.config",
        [{"name": name, "base_path": TFSERVING_TESTDATA / folder} for name, folder in names.items()],
    )
    server = start_server(
        [f"--model_config_file={config}", "--prefer_tflite_model", "--max_num_load_retries=0"],
        tmp_path,
        wait_models=["lite", "lite_sigdef", "saved_model"],
        grpc=False,
    )
    try:
        for name, alias in (("lite", "x"), ("lite_sigdef", "x"), ("saved_model", "x")):
            r = requests.post(
                f"{server.rest_url}/v1/models/{name}:predict", json={"inputs": {alias: [[2.0]]}}, timeout=10
            )
            assert r.status_code == 200, r.text
            assert r.json() == {"outputs": [[3.0]]}
        server.wait_for(lambda: server.version_states("parse_example").get(123) == "END", 30, "END")
        [status] = server.status("parse_example")["model_version_status"]
        assert "ParseExampleV2" in status["status"]["error_message"]
    finally:
        server.stop()


@pytest.mark.parametrize("flag", [[], ["--prefer_tflite_model=false"]])
def test_without_the_flag_a_tflite_folder_is_a_clear_error(tmp_path: Path, flag: list[str]) -> None:
    export_tflite_half_plus_two(tmp_path / "lite" / "1")
    server = start_server(
        [
            "--model_name=lite",
            f"--model_base_path={tmp_path / 'lite'}",
            "--max_num_load_retries=0",
            "--file_system_settle_seconds=1",
            *flag,
        ],
        tmp_path,
        grpc=False,
    )
    try:
        server.wait_for(lambda: server.version_states("lite").get(1) == "END", 30, "END")
        [status] = server.status("lite")["model_version_status"]
        assert "model.tflite" in status["status"]["error_message"]
    finally:
        server.stop()
