"""Checks that the test-model exporters write SavedModels that load and compute.

Why: every server test builds on these models; a broken exporter would show
up as confusing server failures.  Models are loaded with the TF1 loader in a
graph Session and run through their signature tensor names, which is how a
TF Serving style backend uses them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import models

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
v1 = tf.compat.v1


class Loaded:
    """A SavedModel loaded into its own graph + session."""

    def __init__(self, export_dir: Path) -> None:
        self.graph = tf.Graph()
        self.sess = v1.Session(graph=self.graph)
        with self.graph.as_default():
            self.meta_graph = v1.saved_model.loader.load(self.sess, ["serve"], str(export_dir))

    def run(self, signature: str, feeds: dict[str, Any], outputs: list[str] | None = None) -> dict[str, Any]:
        """Run ``signature`` feeding alias -> value; return alias -> numpy value."""
        sig = self.meta_graph.signature_def[signature]
        feed = {sig.inputs[alias].name: value for alias, value in feeds.items()}
        aliases = sorted(sig.outputs) if outputs is None else outputs
        fetched = self.sess.run([sig.outputs[a].name for a in aliases], feed_dict=feed)
        return dict(zip(aliases, fetched, strict=False))

    def close(self) -> None:
        self.sess.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def load() -> Iterator[Any]:
    opened: list[Loaded] = []

    def _load(export_dir: Path) -> Loaded:
        loaded = Loaded(export_dir)
        opened.append(loaded)
        return loaded

    yield _load
    for loaded in opened:
        loaded.close()


def _example(**features: float) -> bytes:
    feature = {k: tf.train.Feature(float_list=tf.train.FloatList(value=[v])) for k, v in features.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_half_plus_two(base: Path, load: Any) -> None:
    path = models.export_half_plus_two(base / "half_plus_two" / "1")
    assert (path / "assets" / "foo.txt").read_text() == models.HALF_PLUS_TWO_ASSET_CONTENT
    assert (path / "variables" / "variables.index").is_file()
    m = load(path)
    assert sorted(m.meta_graph.signature_def) == [
        "classify_x_to_y",
        "regress_x2_to_y3",
        "regress_x_to_y",
        "regress_x_to_y2",
        "serving_default",
    ]
    sig = m.meta_graph.signature_def
    assert (sig["serving_default"].inputs["x"].name, sig["serving_default"].outputs["y"].name) == ("x:0", "y:0")
    assert sig["classify_x_to_y"].method_name == "tensorflow/serving/classify"
    assert sig["regress_x_to_y"].method_name == "tensorflow/serving/regress"

    np.testing.assert_allclose(m.run("serving_default", {"x": [[2.0]]})["y"], [[3.0]])
    examples = [_example(x=2.0), _example(x=4.0, x2=1.0)]
    np.testing.assert_allclose(m.run("regress_x_to_y", {"inputs": examples})["outputs"], [[3.0], [4.0]])
    np.testing.assert_allclose(m.run("classify_x_to_y", {"inputs": examples})["scores"], [[3.0], [4.0]])
    np.testing.assert_allclose(m.run("regress_x_to_y2", {"inputs": examples})["outputs"], [[4.0], [5.0]])
    np.testing.assert_allclose(m.run("regress_x2_to_y3", {"inputs": [[2.0]]})["outputs"], [[4.0]])
    # The main op ran with the asset path fed in (the real model does the same).
    assert m.sess.run("filename_tensor:0") == b"foo.txt"


def test_half_plus_two_variants_and_reexport(base: Path, load: Any) -> None:
    path = base / "hp2_variant" / "7"
    models.export_half_plus_two(path)
    models.export_half_plus_two(path, a=1.0, b=1.0, with_x2_classify=True)  # replaces version 7
    assert not [p for p in path.parent.iterdir() if p.name != "7"], "staging dirs must be cleaned up"
    m = load(path)
    np.testing.assert_allclose(m.run("serving_default", {"x": [[2.0]]})["y"], [[3.0]])
    assert m.meta_graph.signature_def["classify_x2_to_y3"].method_name == "tensorflow/serving/classify"
    np.testing.assert_allclose(m.run("classify_x2_to_y3", {"inputs": [[2.0]]})["scores"], [[5.0]])


def test_counter(base: Path, load: Any) -> None:
    m = load(models.export_counter(base / "counter" / "1"))
    assert m.run("incr_counter", {})["output"] == 1.0
    assert m.run("incr_counter", {})["output"] == 2.0
    assert m.run("get_counter", {})["output"] == 2.0
    assert m.run("incr_counter_by", {"delta": 3.0})["output"] == 5.0
    assert m.run("reset_counter", {})["output"] == 0.0
    assert m.run("get_counter", {})["output"] == 0.0
    assert m.meta_graph.signature_def["incr_counter_by"].inputs["delta"].name == "delta:0"


def test_string_model(base: Path, load: Any) -> None:
    path = models.export_string_model(base / "string_model" / "1")
    assert (path / "assets" / "vocab.words.txt").read_text(encoding="utf-8").splitlines()[:3] == ["很", "喜欢", "垃圾"]
    assert (path / "assets" / "vocab.labels.txt").read_text().splitlines() == ["NEG", "POS"]
    m = load(path)
    sig = m.meta_graph.signature_def["serving_default"]
    assert {k: (v.name, v.dtype) for k, v in sig.inputs.items()} == {
        "words": ("words:0", tf.string.as_datatype_enum),
        "nwords": ("nwords:0", tf.int32.as_datatype_enum),
    }
    assert sig.outputs["classes_id"].name == "ArgMax:0"
    words = np.array([["很", "喜欢"], ["很", "垃圾"], ["垃圾", "喜欢"]], dtype=object)
    out = m.run("serving_default", {"words": words, "nwords": [2, 2, 1]})
    assert out["classes_id"].tolist() == [1, 0, 0]
    assert out["labels"].tolist() == [b"POS", b"NEG", b"NEG"]
    assert out["softmax"].shape == (3, 3)
    np.testing.assert_allclose(out["softmax"].sum(axis=1), 1.0, rtol=1e-6)
    assert out["softmax"][0, 1] > 0.5 and out["softmax"][1, 0] > 0.5


def test_tf2_model_via_tf1_loader(base: Path, load: Any) -> None:
    m = load(models.export_tf2_half_plus_two(base / "tf2" / "1"))
    np.testing.assert_allclose(m.run("serving_default", {"x": [2.0, 4.0]})["y"], [3.0, 4.0])


def test_dtypes_model(base: Path, load: Any) -> None:
    m = load(models.export_dtypes_model(base / "dtypes" / "1", extra_dtypes=True))
    specs = models.DTYPES_MODEL_INPUTS + models.DTYPES_MODEL_EXTRA_INPUTS
    feeds: dict[str, Any] = {}
    for alias, dtype_name in specs:
        if dtype_name == "string":
            feeds[alias] = np.array([b"a", b"\x00\xff"], dtype=object)
        else:
            feeds[alias] = np.array([1, 0], dtype=tf.as_dtype(dtype_name).as_numpy_dtype)
    out = m.run("serving_default", feeds)
    assert sorted(out) == sorted(models.dtypes_output_alias(a) for a, _ in specs)
    assert "out_bytes" in out
    for alias, _ in specs:
        assert out[models.dtypes_output_alias(alias)].tolist() == feeds[alias].tolist()
    assert m.run("scalar", {"x": 1.5})["y"] == 3.0
    assert m.run("no_input", {})["value"].tolist() == [models.NO_INPUT_VALUE]


def test_broken_versions(base: Path) -> None:
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    garbage = models.write_broken_version(base / "broken" / "1", "garbage")
    with pytest.raises(DecodeError):
        saved_model_pb2.SavedModel().ParseFromString((garbage / "saved_model.pb").read_bytes())
    empty = models.write_broken_version(base / "broken" / "2", "empty")
    assert empty.is_dir() and not list(empty.iterdir())
    no_vars = models.write_broken_version(base / "broken" / "3", "no_variables")
    assert (no_vars / "saved_model.pb").is_file() and not (no_vars / "variables").exists()
    with tf.Graph().as_default(), v1.Session() as sess, pytest.raises(Exception):
        v1.saved_model.loader.load(sess, ["serve"], str(no_vars))
    with pytest.raises(ValueError):
        models.write_broken_version(base / "broken" / "4", "bogus")


def test_copy_version(base: Path, load: Any) -> None:
    src = models.export_half_plus_two(base / "copy" / "1", a=2.0)
    dst = models.copy_version(src, base / "copy" / "2")
    np.testing.assert_allclose(load(dst).run("serving_default", {"x": [[1.0]]})["y"], [[4.0]])
