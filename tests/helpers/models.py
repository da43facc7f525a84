"""Exporters for the small SavedModels the pyserving test suite serves.

Why: the test suite needs real SavedModels (TF1 graphs with variables, assets,
lookup tables and TF2 object-graph models) without depending on the checked-in
TensorFlow Serving testdata, and tests must be able to create fresh versions
(``<base>/<version>``) at runtime to exercise version polling.

Every exporter:

* builds the model into a hidden staging directory (``<base>/.export-*``, which
  is not a numeric version and so is ignored by version pollers) and then
  renames it into place, so a polling server never sees a half-written
  version;
* replaces ``path`` if it already exists (safe to call twice);
* takes well under 2 s once TensorFlow is imported.

TensorFlow is imported lazily so that merely importing this module is cheap.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

SERVE_TAG = "serve"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

#: Content of ``assets/foo.txt`` in :func:`export_half_plus_two`.
HALF_PLUS_TWO_ASSET_CONTENT = "asset-file-contents"
#: Value returned by the ``no_input`` signature of :func:`export_dtypes_model`.
NO_INPUT_VALUE = 42.0
#: Words scored by :func:`export_string_model`.
POSITIVE_WORDS = ("喜欢", "好")
NEGATIVE_WORDS = ("垃圾", "差")
STRING_MODEL_LABELS = ("NEG", "POS")
STRING_MODEL_UNKNOWN_LABEL = "UNK"

#: (alias, tf dtype name) for the echo inputs of :func:`export_dtypes_model`.
DTYPES_MODEL_INPUTS: tuple[tuple[str, str], ...] = (
    ("f32", "float32"),
    ("f64", "float64"),
    ("i8", "int8"),
    ("u8", "uint8"),
    ("i16", "int16"),
    ("i32", "int32"),
    ("i64", "int64"),
    ("u32", "uint32"),
    ("b", "bool"),
    ("s", "string"),
    ("raw_bytes", "string"),
)
#: Extra echo inputs added by ``export_dtypes_model(..., extra_dtypes=True)``.
DTYPES_MODEL_EXTRA_INPUTS: tuple[tuple[str, str], ...] = (
    ("f16", "float16"),
    ("u16", "uint16"),
    ("u64", "uint64"),
)


def _tf() -> Any:
    """Import TensorFlow lazily (it is slow and noisy) and return it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _save_session(sess: Any, export_dir: Path, sigs: dict[str, Any], main_op: Any = None) -> None:
    """Writes ``sess``'s graph and variables as a TF1 SavedModel (serve tag, the graph's assets)."""
    v1 = _tf().compat.v1
    builder = v1.saved_model.Builder(str(export_dir))
    builder.add_meta_graph_and_variables(
        sess,
        [SERVE_TAG],
        signature_def_map=sigs,
        assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
        main_op=main_op,
        strip_default_attrs=True,
    )
    builder.save()


def dtypes_output_alias(input_alias: str) -> str:
    """Output alias that echoes ``input_alias`` in the dtypes model."""
    return "out_bytes" if input_alias == "raw_bytes" else f"{input_alias}_out"


def _export_atomically(path: str | os.PathLike[str], build: Callable[[Path, Path], None]) -> Path:
    """Run ``build(export_dir, scratch_dir)`` in a staging dir, then move it to ``path``.

    ``export_dir`` does not exist yet when ``build`` runs (the TF1 builder
    insists on that); ``scratch_dir`` is a temporary directory for source
    asset files and is deleted afterwards.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        export_dir = staging / "model"
        scratch = staging / "scratch"
        scratch.mkdir()
        build(export_dir, scratch)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(export_dir, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _tensor_info(tensor: Any) -> Any:
    return _tf().compat.v1.saved_model.utils.build_tensor_info(tensor)


def _signature(inputs: dict[str, Any], outputs: dict[str, Any], method_name: str) -> Any:
    """Build a SignatureDef from alias -> tensor maps."""
    tf = _tf()
    return tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
        inputs={k: _tensor_info(v) for k, v in inputs.items()},
        outputs={k: _tensor_info(v) for k, v in outputs.items()},
        method_name=method_name,
    )


def export_half_plus_two(
    path: str | os.PathLike[str],
    a: float = 0.5,
    b: float = 2.0,
    with_x2_classify: bool = False,
) -> Path:
    """Export a clone of TF Serving's ``saved_model_half_plus_two_cpu`` testdata model.

    Why a clone: tests can vary ``a``/``b`` to tell versions apart.  The graph
    mirrors the original: ``tf_example`` (string placeholder, unknown rank, as
    in the original) is parsed with features ``x`` and ``x2`` (default 0.0);
    ``x:0`` and ``x2:0`` are Identity tensors of the parsed features that
    predict/regress feed directly (shape [-1, 1]); ``y = a*x + b``,
    ``y2 = a*x + c`` (c = 3.0) and ``y3 = a2*x2 + c2`` (a2 = a, c2 = 3.0). All of
    a, b, c, a2, c2 are variables saved in ``variables/``.  ``assets/foo.txt``
    is registered as an asset and a main op assigns its file name to a
    variable, exactly like the original.
    """
    tf = _tf()
    v1 = tf.compat.v1

    def build(export_dir: Path, scratch: Path) -> None:
        asset_src = scratch / "foo.txt"
        asset_src.write_text(HALF_PLUS_TWO_ASSET_CONTENT, encoding="utf-8")
        with tf.Graph().as_default(), v1.Session() as sess:
            va = v1.Variable(float(a), name="a", use_resource=False)
            vb = v1.Variable(float(b), name="b", use_resource=False)
            vc = v1.Variable(3.0, name="c", use_resource=False)
            tf_example = v1.placeholder(tf.string, name="tf_example")
            features = tf.io.parse_example(
                tf_example,
                {
                    "x": tf.io.FixedLenFeature([1], dtype=tf.float32),
                    "x2": tf.io.FixedLenFeature([1], dtype=tf.float32, default_value=[0.0]),
                },
            )
            x = tf.identity(features["x"], name="x")
            y = tf.identity(tf.add(tf.multiply(va, x), vb), name="y")
            y2 = tf.identity(tf.add(tf.multiply(va, x), vc), name="y2")
            x2 = tf.identity(features["x2"], name="x2")
            va2 = v1.Variable(float(a), name="a2", use_resource=False)
            vc2 = v1.Variable(3.0, name="c2", use_resource=False)
            y3 = tf.identity(tf.add(tf.multiply(va2, x2), vc2), name="y3")

            asset_path = tf.constant(str(asset_src))
            v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, asset_path)
            filename_var = v1.Variable(
                "foo.txt", name="filename_tensor", trainable=False, collections=[], use_resource=False
            )
            # Build the main op before the session first runs: tf.group marks
            # the Assign op, and mutating an op after a run triggers warnings.
            main_op = tf.group(v1.assign(filename_var, "foo.txt"))

            sess.run(v1.global_variables_initializer())

            sigs = {
                "serving_default": _signature({"x": x}, {"y": y}, PREDICT_METHOD),
                "classify_x_to_y": _signature({"inputs": tf_example}, {"scores": y}, CLASSIFY_METHOD),
                "regress_x_to_y": _signature({"inputs": tf_example}, {"outputs": y}, REGRESS_METHOD),
                "regress_x_to_y2": _signature({"inputs": tf_example}, {"outputs": y2}, REGRESS_METHOD),
                "regress_x2_to_y3": _signature({"inputs": x2}, {"outputs": y3}, REGRESS_METHOD),
            }
            if with_x2_classify:
                sigs["classify_x2_to_y3"] = _signature({"inputs": x2}, {"scores": y3}, CLASSIFY_METHOD)

            _save_session(sess, export_dir, sigs, main_op)

    return _export_atomically(path, build)


def export_counter(path: str | os.PathLike[str]) -> Path:
    """Export a stateful counter like TF Serving's ``saved_model_counter``.

    Why: tests need a model whose responses depend on earlier requests (and on
    the session being kept across requests).  ``counter`` is a float resource
    variable starting at 0; every signature (predict method) returns the value
    read *after* its update via control dependencies, so ``incr_counter``
    twice returns 2.0.
    """
    tf = _tf()
    v1 = tf.compat.v1

    def build(export_dir: Path, _scratch: Path) -> None:
        with tf.Graph().as_default(), v1.Session() as sess:
            counter = v1.Variable(0.0, name="counter", dtype=tf.float32, use_resource=True)
            get_value = tf.identity(counter.read_value(), name="get_counter")
            with tf.name_scope("incr_counter_op"):
                op = counter.assign_add(1.0, read_value=False)
                with tf.control_dependencies([op]):
                    incr_value = tf.identity(counter.read_value(), name="value")
            delta = v1.placeholder(tf.float32, shape=[], name="delta")
            with tf.name_scope("incr_counter_by_op"):
                op = counter.assign_add(delta, read_value=False)
                with tf.control_dependencies([op]):
                    incr_by_value = tf.identity(counter.read_value(), name="value")
            with tf.name_scope("reset_counter_op"):
                op = counter.assign(0.0, read_value=False)
                with tf.control_dependencies([op]):
                    reset_value = tf.identity(counter.read_value(), name="value")
            sess.run(v1.global_variables_initializer())
            sigs = {
                "get_counter": _signature({}, {"output": get_value}, PREDICT_METHOD),
                "incr_counter": _signature({}, {"output": incr_value}, PREDICT_METHOD),
                "incr_counter_by": _signature({"delta": delta}, {"output": incr_by_value}, PREDICT_METHOD),
                "reset_counter": _signature({}, {"output": reset_value}, PREDICT_METHOD),
            }
            _save_session(sess, export_dir, sigs)

    return _export_atomically(path, build)


def export_string_model(
    path: str | os.PathLike[str],
    vocab: Sequence[str] = ("很", "喜欢", "垃圾"),
) -> Path:
    """Export a deterministic stand-in for the Chinese sentiment (lstm) model.

    Why: it has the same ``serving_default`` signature as
    ``shared/models/lstm`` (string matrix ``words`` + int32 ``nwords`` in;
    int64 ``classes_id``, string ``labels``, float ``softmax`` [-1, 3] out) and
    exercises assets + lookup tables initialised by ``main_op``, but its
    answers are predictable: among the first ``nwords`` tokens each of
    POSITIVE_WORDS adds 1 to the POS logit and each of NEGATIVE_WORDS adds 1 to
    the NEG logit; logits = [neg, pos, -5]; ``classes_id`` = argmax and
    ``labels`` = ["NEG", "POS"][id] (``UNK`` otherwise).  A tie (no sentiment
    word) yields NEG/0.  ``assets/vocab.words.txt`` holds ``vocab`` followed by
    any sentiment words it lacks; ``assets/vocab.labels.txt`` holds NEG, POS.
    """
    tf = _tf()
    v1 = tf.compat.v1
    lines: list[str] = []
    for word in list(vocab) + list(POSITIVE_WORDS) + list(NEGATIVE_WORDS):
        if word not in lines:
            lines.append(word)
    scores = [1.0 if w in POSITIVE_WORDS else -1.0 if w in NEGATIVE_WORDS else 0.0 for w in lines]
    scores.append(0.0)  # slot for out-of-vocabulary words

    def build(export_dir: Path, scratch: Path) -> None:
        words_file = scratch / "vocab.words.txt"
        words_file.write_text("".join(w + "\n" for w in lines), encoding="utf-8")
        labels_file = scratch / "vocab.labels.txt"
        labels_file.write_text("".join(label + "\n" for label in STRING_MODEL_LABELS), encoding="utf-8")
        with tf.Graph().as_default(), v1.Session() as sess:
            words = v1.placeholder(tf.string, shape=[None, None], name="words")
            nwords = v1.placeholder(tf.int32, shape=[None], name="nwords")
            vocab_table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(
                    tf.constant(str(words_file)),
                    key_dtype=tf.string,
                    key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
                    value_dtype=tf.int64,
                    value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                ),
                default_value=len(lines),
            )
            ids = vocab_table.lookup(words)
            word_scores = tf.gather(tf.constant(scores, dtype=tf.float32), ids)
            mask = tf.sequence_mask(nwords, maxlen=tf.shape(words)[1], dtype=tf.float32)
            pos = tf.reduce_sum(tf.nn.relu(word_scores) * mask, axis=1)
            neg = tf.reduce_sum(tf.nn.relu(-word_scores) * mask, axis=1)
            logits = tf.stack([neg, pos, tf.fill(tf.shape(pos), -5.0)], axis=1)
            logits = tf.ensure_shape(logits, [None, 3])
            classes_id = tf.argmax(logits, axis=1, name="ArgMax")
            softmax = tf.nn.softmax(logits, name="Softmax")
            labels_table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(
                    tf.constant(str(labels_file)),
                    key_dtype=tf.int64,
                    key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                    value_dtype=tf.string,
                    value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
                ),
                default_value=STRING_MODEL_UNKNOWN_LABEL,
            )
            labels = tf.identity(labels_table.lookup(classes_id), name="index_to_string_Lookup")
            main_op = v1.tables_initializer()
            sess.run(main_op)
            sigs = {
                "serving_default": _signature(
                    {"words": words, "nwords": nwords},
                    {"classes_id": classes_id, "labels": labels, "softmax": softmax},
                    PREDICT_METHOD,
                )
            }
            _save_session(sess, export_dir, sigs, main_op)

    return _export_atomically(path, build)


def export_tf2_half_plus_two(path: str | os.PathLike[str]) -> Path:
    """Export a TF2 (object graph) model with ``tf.saved_model.save``.

    Why: TF2 SavedModels name their signature tensors ``serving_default_x:0``
    / ``StatefulPartitionedCall:0`` and carry an object graph, unlike TF1
    exports.  ``serving_default`` takes ``x`` float32 [None] and returns
    ``{"y": 0.5 * x + 2}``.
    """
    tf = _tf()

    class HalfPlusTwo(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5, name="a")
            self.b = tf.Variable(2.0, name="b")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x: Any) -> dict[str, Any]:
            return {"y": self.a * x + self.b}

    def build(export_dir: Path, _scratch: Path) -> None:
        module = HalfPlusTwo()
        tf.saved_model.save(module, str(export_dir), signatures={"serving_default": module.serve})

    return _export_atomically(path, build)


def export_tf2_classify_regress(path: str | os.PathLike[str]) -> Path:
    """A TF2 export with ``classify_x_to_y`` and ``regress_x_to_y`` over serialized tf.Examples.

    Why: ``tf.saved_model.save`` gives each signature its own input placeholder
    (``classify_x_to_y_inputs:0``, ``regress_x_to_y_inputs:0``), where TF1 exports
    share one; MultiInference must feed the same examples to both. y = 0.5 * x + 2.
    """
    tf = _tf()

    class ClassifyRegress(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5, name="a")
            self.b = tf.Variable(2.0, name="b")

        def _y(self, inputs: Any) -> Any:
            features = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})
            return self.a * features["x"] + self.b

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs: Any) -> dict[str, Any]:
            return {"scores": self._y(inputs)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs: Any) -> dict[str, Any]:
            return {"outputs": self._y(inputs)}

    def build(export_dir: Path, _scratch: Path) -> None:
        module = ClassifyRegress()
        tf.saved_model.save(
            module, str(export_dir), signatures={"classify_x_to_y": module.classify, "regress_x_to_y": module.regress}
        )

    return _export_atomically(path, build)


def export_dtypes_model(path: str | os.PathLike[str], extra_dtypes: bool = False) -> Path:
    """Export a model that echoes one input per dtype (for tensor codec tests).

    Why: REST/gRPC tensor conversion must round-trip every dtype.  Signatures:

    * ``serving_default`` (predict): each ``alias`` in DTYPES_MODEL_INPUTS
      (plus DTYPES_MODEL_EXTRA_INPUTS if ``extra_dtypes``), shape [-1],
      placeholder named ``alias``, echoed by Identity to output
      ``dtypes_output_alias(alias)`` (``<alias>_out``; ``raw_bytes`` ->
      ``out_bytes`` so both ends use the REST ``_bytes`` base64 convention);
    * ``scalar`` (predict): ``x`` float32 scalar -> ``y = 2 * x`` scalar;
    * ``no_input`` (predict): no inputs -> ``value`` float32 [1] = [NO_INPUT_VALUE].
    """
    tf = _tf()
    v1 = tf.compat.v1
    specs = list(DTYPES_MODEL_INPUTS) + (list(DTYPES_MODEL_EXTRA_INPUTS) if extra_dtypes else [])

    def build(export_dir: Path, _scratch: Path) -> None:
        with tf.Graph().as_default(), v1.Session() as sess:
            inputs: dict[str, Any] = {}
            outputs: dict[str, Any] = {}
            for alias, dtype_name in specs:
                ph = v1.placeholder(tf.as_dtype(dtype_name), shape=[None], name=alias)
                inputs[alias] = ph
                out_alias = dtypes_output_alias(alias)
                outputs[out_alias] = tf.identity(ph, name=out_alias)
            x = v1.placeholder(tf.float32, shape=[], name="scalar_x")
            y = tf.multiply(x, 2.0, name="scalar_y")
            value = tf.constant([NO_INPUT_VALUE], dtype=tf.float32, name="no_input_value")
            sigs = {
                "serving_default": _signature(inputs, outputs, PREDICT_METHOD),
                "scalar": _signature({"x": x}, {"y": y}, PREDICT_METHOD),
                "no_input": _signature({}, {"value": value}, PREDICT_METHOD),
            }
            _save_session(sess, export_dir, sigs)

    return _export_atomically(path, build)


#: Bytes that are not a valid protobuf (0xff is an invalid tag/wire type).
GARBAGE_SAVED_MODEL_BYTES = b"\xff\xff\xff\xffthis is not a SavedModel protobuf\x00\x01"


def write_broken_version(path: str | os.PathLike[str], kind: str) -> Path:
    """Write a version folder that a server must fail to load.

    ``kind``: ``"garbage"`` -> ``saved_model.pb`` with non-protobuf bytes;
    ``"empty"`` -> an empty directory; ``"no_variables"`` -> a valid
    half_plus_two ``saved_model.pb`` without its ``variables/`` folder (the
    restore op fails).  Why: exercises load-error reporting and the
    "keep serving the old version" policy.
    """
    target = Path(path)
    if kind == "garbage":

        def build(export_dir: Path, _scratch: Path) -> None:
            export_dir.mkdir()
            (export_dir / "saved_model.pb").write_bytes(GARBAGE_SAVED_MODEL_BYTES)

        return _export_atomically(target, build)
    if kind == "empty":

        def build_empty(export_dir: Path, _scratch: Path) -> None:
            export_dir.mkdir()

        return _export_atomically(target, build_empty)
    if kind == "no_variables":
        staging = Path(tempfile.mkdtemp(prefix=".broken-", dir=_ensure_parent(target)))
        try:
            export_half_plus_two(staging / "model")
            shutil.rmtree(staging / "model" / "variables")

            def build_copy(export_dir: Path, _scratch: Path) -> None:
                shutil.copytree(staging / "model", export_dir)

            return _export_atomically(target, build_copy)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    raise ValueError(f"unknown broken version kind {kind!r}; expected garbage, empty or no_variables")


def _ensure_parent(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.parent


def copy_version(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy a version folder ``src`` to ``dst`` atomically (replacing ``dst``).

    Why: tests add a new version of an existing model while a server polls.
    """
    source = Path(src)
    if not source.is_dir():
        raise FileNotFoundError(f"no such version directory: {source}")

    def build(export_dir: Path, _scratch: Path) -> None:
        shutil.copytree(source, export_dir)

    return _export_atomically(dst, build)


def export_all(base: str | os.PathLike[str], names: Iterable[str] | None = None) -> dict[str, Path]:
    """Export models as ``<base>/<name>/1`` and return name -> version path.

    Why: a one-liner for server tests that need a whole model base directory.
    """
    exporters: dict[str, Callable[[Path], Path]] = {
        "half_plus_two": export_half_plus_two,
        "counter": export_counter,
        "string_model": export_string_model,
        "tf2_half_plus_two": export_tf2_half_plus_two,
        "dtypes": export_dtypes_model,
    }
    selected = list(exporters) if names is None else list(names)
    return {name: exporters[name](Path(base) / name / "1") for name in selected}
