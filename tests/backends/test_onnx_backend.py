"""The ONNX Runtime backend on its own: loaders, signatures, runs and errors, with real onnxruntime."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from pyserving.backends import detect_platform, load_backend
from pyserving.backends.onnx import OnnxBackend, OnnxOptions, model_file
from pyserving.config.settings import ServerSettings
from pyserving.core.errors import InvalidArgumentError, ServingError, StatusCode
from pyserving.core.ids import ServableId
from pyserving.tensors.dtypes import DataType
from tests.helpers import onnx_models

SIG = "serving_default"


@pytest.fixture
def load(tmp_path: Path) -> Iterator:
    loaders = []

    def _load(model, name: str = "m", options: OnnxOptions | None = None):
        version_dir = onnx_models.save(model, tmp_path / name / "1").parent
        loader = OnnxBackend(options).create_loader(ServableId(name, 1), str(version_dir))
        loader.load()
        loaders.append(loader)
        return loader.servable

    yield _load
    for loader in loaders:
        loader.unload()


def test_half_plus_two_signature_and_run(load) -> None:
    servable = load(onnx_models.half_plus_two())
    signature = servable.signatures[SIG]
    assert signature.method_name == "tensorflow/serving/predict"
    assert {k: (v.name, v.dtype, v.shape) for k, v in signature.inputs.items()} == {
        "x": ("x", DataType.DT_FLOAT, (-1, 1))
    }
    assert {k: (v.name, v.dtype, v.shape) for k, v in signature.outputs.items()} == {
        "y": ("y", DataType.DT_FLOAT, (-1, 1))
    }
    assert servable.metadata() is None  # built from signatures by the serving layer
    out = servable.run(SIG, {"x": np.array([[1.0], [2.0], [5.0]], np.float32)}, ["y"])
    np.testing.assert_array_equal(out["y"], [[2.5], [3.0], [4.5]])
    assert servable.caller_thread_run is not None
    inline = servable.caller_thread_run(SIG, {"x": np.array([[4.0]], np.float32)}, ["y"], 0)
    np.testing.assert_array_equal(inline["y"], [[4.0]])


def test_mlp_matches_numpy(load) -> None:
    weights = onnx_models.mlp_weights((8, 16, 4), seed=3)
    servable = load(onnx_models.mlp((8, 16, 4), weights=weights))
    x = np.random.default_rng(0).uniform(-1, 1, (5, 8)).astype(np.float32)
    out = servable.run(SIG, {"x": x}, ["y"])
    np.testing.assert_allclose(out["y"], onnx_models.mlp_reference(x, weights), rtol=1e-5, atol=1e-6)


def test_every_dtype_maps_to_tf_and_runs(load) -> None:
    servable = load(onnx_models.dtypes_model())
    signature = servable.signatures[SIG]
    assert {k: v.dtype for k, v in signature.inputs.items()} == {
        "f16": DataType.DT_HALF,
        "f64": DataType.DT_DOUBLE,
        "i8": DataType.DT_INT8,
        "i32": DataType.DT_INT32,
        "i64": DataType.DT_INT64,
        "u8": DataType.DT_UINT8,
        "u64": DataType.DT_UINT64,
        "b": DataType.DT_BOOL,
        "s": DataType.DT_STRING,
    }
    assert all(spec.shape == (-1,) for spec in [*signature.inputs.values(), *signature.outputs.values()])
    strings = np.empty(2, dtype=object)
    strings[:] = [b"abc", "h\u00e9!".encode()]
    inputs = {
        "f16": np.array([1.5, -2], np.float16),
        "f64": np.array([1.0, 2.0]),
        "i8": np.array([-3, 4], np.int8),
        "i32": np.array([7, 8], np.int32),
        "i64": np.array([2**40, -1], np.int64),
        "u8": np.array([0, 255], np.uint8),
        "u64": np.array([2**63, 1], np.uint64),
        "b": np.array([True, False]),
        "s": strings,
    }
    out = servable.run(SIG, inputs, sorted(signature.outputs))
    np.testing.assert_array_equal(out["f16_x2"], np.array([3, -4], np.float16))
    assert out["f16_x2"].dtype == np.float16
    np.testing.assert_array_equal(out["f64_neg"], [-1.0, -2.0])
    np.testing.assert_array_equal(out["i64_plus1"], [2**40 + 1, 0])
    assert out["i64_plus1"].dtype.type is np.int64  # not ORT's longlong: JSON encoders check the type
    np.testing.assert_array_equal(out["u64_id"], np.array([2**63, 1], np.uint64))
    np.testing.assert_array_equal(out["b_not"], [False, True])
    assert out["s_id"].dtype == object and list(out["s_id"]) == [b"abc", "h\u00e9!".encode()]
    assert list(out["s_upper"]) == [b"ABC", "H\u00e9!".encode()]


def test_non_utf8_string_input_is_invalid_argument(load) -> None:
    servable = load(onnx_models.dtypes_model())
    inputs = {
        name: np.zeros(1, spec_dtype)
        for name, spec_dtype in (
            ("f16", np.float16),
            ("f64", np.float64),
            ("i8", np.int8),
            ("i32", np.int32),
            ("i64", np.int64),
            ("u8", np.uint8),
            ("u64", np.uint64),
            ("b", np.bool_),
        )
    }
    inputs["s"] = np.array([b"\xff\xfe"], dtype=object)
    with pytest.raises(InvalidArgumentError, match="input 's': element 0 is not valid UTF-8"):
        servable.run(SIG, inputs, ["s_id"])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"a": np.ones((2, 3), np.float64), "b": np.ones((2, 3), np.float32)},
            "input 'a': expected dtype float but got double",
        ),
        (
            {"a": np.ones((2, 4), np.float32), "b": np.ones((2, 4), np.float32)},
            r"input 'a': expected shape \[-1,3\] but got \[2,4\]",
        ),
        (
            {"a": np.ones((2, 3, 1), np.float32), "b": np.ones((2, 3), np.float32)},
            r"input 'a': expected shape \[-1,3\] but got \[2,3,1\]",
        ),
        (
            {"a": np.ones((2, 3), np.float32), "b": np.ones((3, 3), np.float32)},
            r"input 'b': expected shape \[-1,3\] but got \[3,3\] \(dim 0 is 'N', which input 'a' sets to 2\)",
        ),
        ({"a": np.ones((2, 3), np.float32)}, r"missing: \{b\}"),
        ({"a": np.ones((2, 3), np.float32), "b": np.ones((2, 3), np.float32), "c": np.ones(1)}, r"unknown: \{c\}"),
        (
            {"a": np.array([[b"x"] * 3], dtype=object), "b": np.ones((1, 3), np.float32)},
            "input 'a': expected dtype float but got string",
        ),
    ],
)
def test_bad_inputs_are_invalid_argument_with_expected_and_got(load, inputs, message) -> None:
    servable = load(onnx_models.two_inputs())
    with pytest.raises(InvalidArgumentError, match=message):
        servable.run(SIG, inputs, ["sum"])


def test_fixed_dims_are_checked(load) -> None:
    servable = load(onnx_models.fixed_shape())
    assert servable.signatures[SIG].inputs["x"].shape == (2, 3)
    np.testing.assert_array_equal(
        servable.run(SIG, {"x": np.ones((2, 3), np.float32)}, ["y"])["y"], np.full((2, 3), 10.0)
    )
    with pytest.raises(InvalidArgumentError, match=r"expected shape \[2,3\] but got \[1,3\]"):
        servable.run(SIG, {"x": np.ones((1, 3), np.float32)}, ["y"])


def test_control_flow_gets_no_caller_thread_run(load, tmp_path: Path) -> None:
    servable = load(onnx_models.loop_sum(), "loop")
    assert servable.caller_thread_run is None
    assert float(servable.run(SIG, {"n": np.array(10, np.int64)}, ["total"])["total"]) == 55.0
    assert model_file.control_flow_ops(str(tmp_path / "loop" / "1" / "model.onnx")) == {"Loop"}
    assert model_file.control_flow_ops(str(onnx_models.save(onnx_models.mlp(), tmp_path / "mlp" / "1"))) == set()


def test_sklearn_pipeline_matches_scikit_learn(load) -> None:
    model, pipeline, features = onnx_models.sklearn_pipeline()
    servable = load(model, "iris")
    signature = servable.signatures[SIG]
    [alias] = signature.inputs
    assert signature.inputs[alias].shape == (-1, 4)
    assert signature.outputs["label"].dtype == DataType.DT_INT64
    out = servable.run(SIG, {alias: features}, ["label", "probabilities"])
    np.testing.assert_array_equal(out["label"], pipeline.predict(features))
    np.testing.assert_allclose(out["probabilities"], pipeline.predict_proba(features), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("model", "code", "text"),
    [
        (onnx_models.broken_bytes(), StatusCode.INVALID_ARGUMENT, "INVALID_PROTOBUF"),
        (onnx_models.unknown_op(), StatusCode.INVALID_ARGUMENT, "NoSuchOpAnywhere"),
        (onnx_models.sequence_output(), StatusCode.UNIMPLEMENTED, "output 'parts': type seq(tensor(float))"),
    ],
)
def test_unusable_models_fail_the_load_with_onnxruntimes_error(tmp_path: Path, model, code, text) -> None:
    version_dir = onnx_models.save(model, tmp_path / "bad" / "1").parent
    loader = OnnxBackend().create_loader(ServableId("bad", 1), str(version_dir))
    with pytest.raises(ServingError) as caught:
        loader.load()
    assert caught.value.code == code
    assert text in caught.value.message and str(version_dir) in caught.value.message
    with pytest.raises(ServingError):
        loader.servable  # noqa: B018 - nothing half-loaded


def test_version_complete_only_for_a_whole_model_file(tmp_path: Path) -> None:
    backend = OnnxBackend()
    data = onnx_models.mlp((64, 128, 10)).SerializeToString()
    for cut in (0, 1, 10, len(data) // 2, len(data) - 1):
        folder = tmp_path / f"cut{cut}"
        onnx_models.save(data[:cut], folder)
        assert not backend.version_complete(str(folder)), cut
    onnx_models.save(data, tmp_path / "whole")
    assert backend.version_complete(str(tmp_path / "whole"))
    onnx_models.save(onnx_models.broken_bytes(), tmp_path / "junk")
    assert not backend.version_complete(str(tmp_path / "junk"))
    assert not backend.version_complete(str(tmp_path / "empty-folder"))


def test_registry_and_detection(tmp_path: Path) -> None:
    settings = ServerSettings(tensorflow_session_parallelism=3, tensorflow_intra_op_parallelism=1)
    backend = load_backend("onnx", settings)
    assert isinstance(backend, OnnxBackend) and backend.platform == "onnx"
    assert backend.options == OnnxOptions(intra_op_parallelism=1, inter_op_parallelism=3)
    # With batching the batch threads are the parallelism: one intra-op thread per run unless set.
    assert OnnxOptions.from_settings(ServerSettings(enable_batching=True)) == OnnxOptions(intra_op_parallelism=1)
    assert OnnxOptions.from_settings(ServerSettings()) == OnnxOptions()
    assert OnnxOptions.from_settings(ServerSettings(enable_batching=True, tensorflow_intra_op_parallelism=2)) == (
        OnnxOptions(intra_op_parallelism=2)
    )
    onnx_models.save(onnx_models.half_plus_two(), tmp_path / "m" / "7")
    assert detect_platform(str(tmp_path / "m")) == ("onnx", os.path.join("7", "model.onnx"))


def test_thread_options_reach_the_session(load) -> None:
    servable = load(onnx_models.half_plus_two(), options=OnnxOptions(intra_op_parallelism=1, inter_op_parallelism=2))
    options = servable._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 2)


def test_unload_and_reload(tmp_path: Path) -> None:
    version_dir = onnx_models.save(onnx_models.half_plus_two(), tmp_path / "m" / "1").parent
    loader = OnnxBackend().create_loader(ServableId("m", 1), str(version_dir))
    assert loader.estimate_resources() == (version_dir / "model.onnx").stat().st_size
    for _ in range(2):
        loader.load()
        assert loader.servable.run(SIG, {"x": np.array([[0.0]], np.float32)}, ["y"])["y"].tolist() == [[2.0]]
        loader.unload()


def test_inspect_shows_the_signature_the_server_gives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pyserving.tools.inspect_model import main as inspect_main

    version_dir = onnx_models.save(onnx_models.two_inputs(), tmp_path / "two" / "1").parent
    assert inspect_main([str(version_dir)]) == 0
    text = capsys.readouterr().out
    assert "signature_def['serving_default']:" in text
    assert "inputs['a'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 3)\n        name: a" in text
    assert "Method name is: tensorflow/serving/predict" in text
    assert "contains the following ops: {'Add', 'ReduceSum'}" in text
    assert inspect_main([str(version_dir), "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["tag_sets"]["serve"]["signature_defs"]["serving_default"]["outputs"]["total"] == {
        "dtype": "DT_FLOAT",
        "shape": [-1],
        "name": "total",
    }
