"""ONNX test models, built with the ``onnx`` helper API (and skl2onnx), never downloaded.

Every builder returns a ``ModelProto``; :func:`save` writes it as ``<version dir>/model.onnx``.
Opset 17 / IR 8: what every onnxruntime since 1.14 loads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OPSET = 17
IR_VERSION = 8


def _model(graph, opset: int = OPSET, extra_opsets: dict[str, int] | None = None):
    from onnx import helper

    opsets = [helper.make_opsetid("", opset)]
    opsets += [helper.make_opsetid(domain, version) for domain, version in (extra_opsets or {}).items()]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="pyserving-tests")
    model.ir_version = IR_VERSION
    return model


def save(model, version_dir: Path) -> Path:
    """Writes ``model`` (a ModelProto, or raw bytes for broken files) to ``version_dir/model.onnx``."""
    version_dir.mkdir(parents=True, exist_ok=True)
    data = model if isinstance(model, bytes) else model.SerializeToString()
    path = version_dir / "model.onnx"
    path.write_bytes(data)
    return path


def half_plus_two(a: float = 0.5, b: float = 2.0):
    """TF Serving's half_plus_two as ONNX: ``x`` float [batch, 1] -> ``y`` = a*x + b."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "a"], ["ax"]), helper.make_node("Add", ["ax", "b"], ["y"])],
        "half_plus_two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(np.array(a, np.float32), "a"), numpy_helper.from_array(np.array(b, np.float32), "b")],
    )
    return _model(graph)


def export_half_plus(version_dir: Path, b: float = 2.0) -> Path:
    """A whole ``version_dir`` holding half_plus_two (``y = 0.5 x + b``), published by one rename."""
    import os
    import tempfile

    version_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=version_dir.parent, prefix=".staging-"))
    save(half_plus_two(b=b), staging)
    os.replace(staging, version_dir)
    return version_dir


def mlp_weights(sizes: tuple[int, ...], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((n_in, n_out), dtype=np.float32) * 0.02, np.zeros(n_out, np.float32))
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False)
    ]


def mlp(sizes: tuple[int, ...] = (8, 16, 4), seed: int = 0, weights=None):
    """A float32 MLP (MatMul + Add, Relu between layers): ``x`` [batch, sizes[0]] -> ``y``."""
    from onnx import TensorProto, helper, numpy_helper

    weights = weights or mlp_weights(sizes, seed)
    nodes, initializers, h = [], [], "x"
    for i, (w, b) in enumerate(weights):
        initializers += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [
            helper.make_node("MatMul", [h, f"w{i}"], [f"mm{i}"]),
            helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"h{i}" if i < len(weights) - 1 else "y"]),
        ]
        if i < len(weights) - 1:
            nodes.append(helper.make_node("Relu", [f"h{i}"], [f"r{i}"]))
            h = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", sizes[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", sizes[-1]])],
        initializers,
    )
    return _model(graph)


def mlp_reference(x: np.ndarray, weights) -> np.ndarray:
    h = x
    for i, (w, b) in enumerate(weights):
        h = h @ w + b
        if i < len(weights) - 1:
            h = np.maximum(h, 0)
    return h


def dtypes_model(only: tuple[str, ...] | None = None):
    """One input and one output per kind of dtype, batch dim ``n`` shared by all (``only``: just
    these inputs and their outputs; REST JSON has no float16, as in TF Serving):

    f16 float16 -> f16_x2 (x2), f64 double -> f64_neg (-x), i8 int8 -> i8_id, i32 int32 ->
    i32_id, i64 int64 -> i64_plus1 (+1), u8 uint8 -> u8_id, u64 uint64 -> u64_id, b bool ->
    b_not, s string -> s_upper (upper-cased) and s_id (as sent).
    """
    from onnx import TensorProto, helper, numpy_helper

    T = TensorProto
    ins = [
        ("f16", T.FLOAT16),
        ("f64", T.DOUBLE),
        ("i8", T.INT8),
        ("i32", T.INT32),
        ("i64", T.INT64),
        ("u8", T.UINT8),
        ("u64", T.UINT64),
        ("b", T.BOOL),
        ("s", T.STRING),
    ]
    nodes = [
        helper.make_node("Add", ["f16", "f16"], ["f16_x2"]),
        helper.make_node("Neg", ["f64"], ["f64_neg"]),
        helper.make_node("Identity", ["i8"], ["i8_id"]),
        helper.make_node("Identity", ["i32"], ["i32_id"]),
        helper.make_node("Add", ["i64", "one"], ["i64_plus1"]),
        helper.make_node("Identity", ["u8"], ["u8_id"]),
        helper.make_node("Identity", ["u64"], ["u64_id"]),
        helper.make_node("Not", ["b"], ["b_not"]),
        helper.make_node("StringNormalizer", ["s"], ["s_upper"], case_change_action="UPPER", locale="C"),
        helper.make_node("Identity", ["s"], ["s_id"]),
    ]
    outs = [
        ("f16_x2", T.FLOAT16),
        ("f64_neg", T.DOUBLE),
        ("i8_id", T.INT8),
        ("i32_id", T.INT32),
        ("i64_plus1", T.INT64),
        ("u8_id", T.UINT8),
        ("u64_id", T.UINT64),
        ("b_not", T.BOOL),
        ("s_upper", T.STRING),
        ("s_id", T.STRING),
    ]
    if only is not None:
        ins = [(name, kind) for name, kind in ins if name in only]
        nodes = [node for node in nodes if node.input[0] in only]
        produced = {name for node in nodes for name in node.output}
        outs = [(name, kind) for name, kind in outs if name in produced]
    graph = helper.make_graph(
        nodes,
        "dtypes",
        [helper.make_tensor_value_info(name, kind, ["n"]) for name, kind in ins],
        [helper.make_tensor_value_info(name, kind, ["n"]) for name, kind in outs],
        [numpy_helper.from_array(np.array(1, np.int64), "one")],
    )
    return _model(graph)


def two_inputs():
    """``a`` and ``b`` float [N, 3] (one symbolic batch dim ``N``) -> ``sum`` [N, 3] and
    ``total`` [N] (row sums of a + b)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Add", ["a", "b"], ["sum"]),
            helper.make_node("ReduceSum", ["sum", "axes"], ["total"], keepdims=0),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("total", TensorProto.FLOAT, ["N"]),
        ],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    return _model(graph)


def fixed_shape():
    """``x`` float [2, 3] (no symbolic dim) -> ``y`` = x * 10."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "ten"], ["y"])],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array(10, np.float32), "ten")],
    )
    return _model(graph)


def loop_sum():
    """Control flow: ``n`` int64 scalar -> ``total`` float = sum of 1..n, by a Loop of n iterations."""
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Cast", ["i"], ["i_f"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["i_f", "one_f"], ["i1"]),
            helper.make_node("Add", ["acc_in", "i1"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, []),
        ],
        [helper.make_tensor("one_f", TensorProto.FLOAT, [], [1.0])],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["n", "cond", "zero"], ["total"], body=body)],
        "loop_sum",
        [helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, [])],
        [
            helper.make_tensor("cond", TensorProto.BOOL, [], [True]),
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        ],
    )
    return _model(graph)


def sequence_output():
    """Unsupported by a signature: ``x`` float [N] -> ``parts``, a sequence of tensors."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("SequenceConstruct", ["x", "x"], ["parts"])],
        "seq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])],
        [helper.make_tensor_sequence_value_info("parts", TensorProto.FLOAT, ["N"])],
    )
    return _model(graph)


def broken_bytes() -> bytes:
    """Not a ModelProto at all (a protobuf parser fails on it)."""
    return b"\x0a\xff\xff\xff\xff\x0fthis is not an onnx model"


def unknown_op():
    """Parses, but uses an op no ONNX Runtime kernel implements."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("NoSuchOpAnywhere", ["x"], ["y"])],
        "unknown_op",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])],
    )
    return _model(graph)


def iris_like(seed: int = 0, rows: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs in 4 features: iris's shape, made here (no download)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]], np.float32)
    labels = np.repeat(np.arange(3), rows // 3)
    features = centers[labels] + rng.normal(0, 0.3, (len(labels), 4)).astype(np.float32)
    return features.astype(np.float32), labels.astype(np.int64)


def sklearn_pipeline(seed: int = 0):
    """(ModelProto, fitted pipeline, X): StandardScaler + LogisticRegression exported by skl2onnx,
    ``input`` float [N, 4] -> ``label`` int64 [N], ``probabilities`` float [N, 3] (zipmap off)."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = iris_like(seed)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, labels)
    classifier = pipeline.steps[-1][1]
    model = to_onnx(
        pipeline,
        features[:1],
        options={id(classifier): {"zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": 3},
        naming="",
    )
    model.ir_version = IR_VERSION
    return model, pipeline, features
