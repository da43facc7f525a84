"""Describe a SavedModel like ``saved_model_cli show --all --dir DIR`` does.

Why: operators need to see a model's signatures (aliases, dtypes, shapes,
tensor names, method names) to write requests, and ``saved_model_cli`` needs
a full TensorFlow install plus a model load.  This module reads only the
``SavedModel`` protobuf (``saved_model.pb``, or ``saved_model.pbtxt``); it never
loads the model into a session or calls ``tf.saved_model.load``.

:func:`inspect_saved_model` returns a JSON-serialisable ``dict``::

    {
      "saved_model_dir": "DIR",
      "tag_sets": {                      # key: tags joined by ",", CLI sort order
        "serve": {
          "tags": ["serve"],
          "signature_defs": {            # sorted by key
            "serving_default": {
              "method_name": "tensorflow/serving/predict",
              "inputs":  {"x": {"dtype": "DT_FLOAT", "shape": [-1, 1], "name": "x:0"}},
              "outputs": {"y": {"dtype": "DT_FLOAT", "shape": [-1, 1], "name": "y:0"}},
            },
          },
          "ops": ["Add", "Const", ...],  # sorted
        },
      },
      "concrete_functions": None | {     # None: no object graph (TF1 export)
        "error": None | str,             # why saved_model_cli would print "N/A"
        "functions": [                   # root's functions, sorted by name
          {"name": "serve", "kind": "function" | "bare_concrete_function",
           "options": [                  # one per trace
             {"index": 1,
              "args": [{"kind": "tensor_spec", "name": "x", "dtype": "float32",
                        "shape": [-1], "repr": "TensorSpec(...)"}
                       | {"kind": "str" | "value" | "sequence" | "mapping", ...}],
              "kwargs": [{"kind": "str", "value": "y", "spec": {...}}]}]}]},
    }

``shape`` is a list with -1 for unknown dimensions, ``[]`` for scalars and
``None`` for unknown rank.  Sparse / composite tensor infos additionally carry
``"encoding"`` (``"coo_sparse"`` or ``"composite_tensor"``) and its details.

:func:`format_show_all` renders that dict exactly as ``saved_model_cli show
--all`` prints it, with these documented differences:

* the op set on the "The MetaGraph with tag set [...] contains the following
  ops:" line is printed in sorted order (``saved_model_cli`` prints a Python
  ``set``, whose order changes from run to run);
* the "Concrete Functions" section of TF2 (object-graph) SavedModels is
  rebuilt from the object graph and the serialized input signatures instead of
  by loading the model.  Where ``saved_model_cli`` would fail to load the model
  it prints "N/A (could not be listed due to ...)"; we reproduce that for
  unregistered (custom) ops, several MetaGraphs and undecodable signatures,
  but not for other load failures (e.g. missing asset files).  When a function
  has several traces, ``saved_model_cli`` orders them by the names the loader
  gives them (``__inference_<name>_<uid>``, compared as strings); we simulate
  the loader's order with fixed-width uids, so the order can differ only when
  the real uids straddle a power of ten (e.g. ``_98`` vs ``_102``).

``main`` implements ``pyserving inspect DIR [--json] [--tag_set TAGS]
[--signature_def NAME]``.

TensorFlow's protobuf modules are imported lazily inside the functions, so
``import pyserving.tools.inspect_model`` does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pyserving.backends.tensorflow.saved_model_file import (
    SAVED_MODEL_PB,
    SAVED_MODEL_PBTXT,
    SavedModelParseError,
    find_saved_model_file,
    parse_saved_model_file,
)

__all__ = [
    "InspectError",
    "format_show_all",
    "format_signature_def",
    "format_signature_def_keys",
    "inspect_model",
    "inspect_onnx_model",
    "inspect_saved_model",
    "main",
    "read_saved_model",
    "select",
]


class InspectError(ValueError):
    """A SavedModel could not be parsed, or a requested tag-set/signature is missing."""


# --------------------------------------------------------------------------
# Reading


def read_saved_model(saved_model_dir: str | os.PathLike[str]) -> Any:
    """Parse ``saved_model.pb`` (preferred) or ``saved_model.pbtxt`` in ``saved_model_dir``.

    Returns a ``tensorflow.core.protobuf.saved_model_pb2.SavedModel``.  Raises
    ``FileNotFoundError`` when neither file exists and :class:`InspectError`
    when the file does not parse (mirroring ``saved_model_utils.read_saved_model``).
    """
    directory = os.fspath(saved_model_dir)
    proto_path = find_saved_model_file(directory)
    if proto_path is None:
        shown = directory.rstrip("/\\") or directory
        raise FileNotFoundError(f"SavedModel file does not exist at: {shown}/{{{SAVED_MODEL_PBTXT}|{SAVED_MODEL_PB}}}")
    try:
        return parse_saved_model_file(proto_path)
    except SavedModelParseError as exc:
        raise InspectError(str(exc)) from exc


def _dtype_name(dtype: int) -> str:
    from pyserving.protos.tensorflow.core.framework import types_pb2

    try:
        return types_pb2.DataType.Name(dtype)
    except ValueError:
        return f"DT_UNKNOWN_{dtype}"


def _shape(tensor_shape: Any) -> list[int] | None:
    if tensor_shape.unknown_rank:
        return None
    return [int(dim.size) for dim in tensor_shape.dim]


def _tensor_info(info: Any) -> dict[str, Any]:
    """TensorInfo proto -> {dtype, shape, name} (+ encoding details for non-dense)."""
    out: dict[str, Any] = {
        "dtype": _dtype_name(info.dtype),
        "shape": _shape(info.tensor_shape),
        "name": info.name,
    }
    encoding = info.WhichOneof("encoding")
    if encoding == "coo_sparse":
        out["encoding"] = "coo_sparse"
        out["coo_sparse"] = {
            "values_tensor_name": info.coo_sparse.values_tensor_name,
            "indices_tensor_name": info.coo_sparse.indices_tensor_name,
            "dense_shape_tensor_name": info.coo_sparse.dense_shape_tensor_name,
        }
    elif encoding == "composite_tensor":
        out["encoding"] = "composite_tensor"
        out["composite_tensor"] = {
            "components": [_tensor_info(c) for c in info.composite_tensor.components],
        }
    return out


def _signature_def(sig: Any) -> dict[str, Any]:
    return {
        "method_name": sig.method_name,
        "inputs": {k: _tensor_info(v) for k, v in sorted(sig.inputs.items())},
        "outputs": {k: _tensor_info(v) for k, v in sorted(sig.outputs.items())},
    }


def _ops_used(graph_def: Any) -> list[str]:
    """Ops used by the graph and (transitively) the functions it calls.

    Same algorithm as ``tensorflow.python.framework.meta_graph.ops_used_by_graph_def``.
    """
    name_to_function = {fun.signature.name: fun for fun in graph_def.library.function}
    used: set[str] = set()
    pending: list[Any] = []

    def mark(op: str) -> None:
        if op not in used and op in name_to_function:
            pending.append(name_to_function[op])
        used.add(op)

    def process(node: Any) -> None:
        mark(node.op)
        if node.op in ("PartitionedCall", "StatefulPartitionedCall"):
            mark(node.attr["f"].func.name)

    for node in graph_def.node:
        process(node)
    while pending:
        for node in pending.pop().node_def:
            process(node)
    return sorted(op for op in used if op not in name_to_function)


def _quoted(value: Any) -> str:
    """``saved_model_cli``'s ``_maybe_add_quotes``."""
    return f"'{value}'" if isinstance(value, str) else str(value)


def _describe_arg(element: Any) -> dict[str, Any]:
    """Turn one decoded argument spec into a JSON-able description for printing."""
    from tensorflow.python.framework import tensor as tensor_lib

    if isinstance(element, str):
        return {"kind": "str", "value": element}
    if isinstance(element, tensor_lib.TensorSpec):
        shape = None if element.shape.rank is None else [-1 if d is None else int(d) for d in element.shape.as_list()]
        return {
            "kind": "tensor_spec",
            "name": element.name,
            "dtype": element.dtype.name,
            "shape": shape,
            "repr": repr(element),
        }
    if isinstance(element, dict):
        return {
            "kind": "mapping",
            "type": type(element).__name__,
            "items": [[str(k), _quoted(v)] for k, v in element.items()],
        }
    try:
        iter(element)
    except TypeError:
        return {"kind": "value", "type": type(element).__name__, "value": str(element)}
    return {"kind": "sequence", "type": type(element).__name__, "values": [_quoted(v) for v in element]}


def _unregistered_ops(ops: Sequence[str]) -> list[str]:
    try:
        from tensorflow.python.framework import op_def_registry
    except ImportError:  # pragma: no cover - very old/new TF layouts
        return []
    return [op for op in ops if op_def_registry.get(op) is None]


_INFERENCE_NAME = re.compile(r"^__inference_(.*)_\d+$")


def _load_order(library: Any) -> dict[str, int]:
    """Position at which ``tf.saved_model.load`` would re-create each library function.

    Why: the loader renames every function to ``__inference_<name>_<uid>``
    with increasing uids in this (topological, LIFO) order, and
    ``saved_model_cli`` sorts a function's traces by those new names.  Mirrors
    ``function_deserialization._sort_function_defs``; raises ``ValueError``
    where the loader would.
    """
    names = [f.signature.name for f in library.function]
    known = set(names)
    gradient_names = {
        g.registered_op_type.encode(): g.gradient_func for g in library.registered_gradients if g.registered_op_type
    }
    edges: dict[str, list[str]] = {}
    in_count: dict[str, int] = {}
    for fdef in library.function:
        deps: set[str] = set()
        for node in fdef.node_def:
            grad_type = node.attr["_gradient_op_type"].s if "_gradient_op_type" in node.attr else b""
            if node.op in ("StatefulPartitionedCall", "PartitionedCall"):
                grad_type = b""
            if node.op in known:
                deps.add(node.op)
            elif grad_type and grad_type in gradient_names:
                deps.add(gradient_names[grad_type])
            else:
                for value in node.attr.values():
                    which = value.WhichOneof("value")
                    if which == "func":
                        deps.add(value.func.name)
                    elif which == "list":
                        deps.update(fn.name for fn in value.list.func)
        for dep in deps:
            edges.setdefault(dep, []).append(fdef.signature.name)
            in_count[fdef.signature.name] = in_count.get(fdef.signature.name, 0) + 1
    ready = [n for n in names if not in_count.get(n)]
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for dest in edges.get(node, []):
            in_count[dest] -= 1
            if not in_count[dest]:
                ready.append(dest)
    if len(order) != len(names):
        raise ValueError("cyclic or unresolved function dependencies")
    return {name: i for i, name in enumerate(order)}


def _loaded_name_key(name: str, position: int) -> str:
    """Approximate the name the loader gives function ``name`` (fixed-width uid)."""
    match = _INFERENCE_NAME.match(name)
    clean = match.group(1) if match else name
    return f"__inference_{clean}_{1_000_000 + position}"


def _concrete_functions(saved_model: Any, all_ops: Sequence[str]) -> dict[str, Any] | None:
    """Rebuild ``saved_model_cli``'s "Concrete Functions" listing from the object graph."""
    meta_graphs = list(saved_model.meta_graphs)
    if not any(mg.HasField("object_graph_def") for mg in meta_graphs):
        return None
    if len(meta_graphs) != 1:
        # tf.saved_model.load without tags refuses several MetaGraphs.
        return {"error": "unknown reasons", "functions": []}
    if _unregistered_ops(all_ops):
        return {"error": "the existence of custom ops in the SavedModel", "functions": []}

    from tensorflow.python.saved_model import nested_structure_coder

    object_graph = meta_graphs[0].object_graph_def
    if not object_graph.nodes:
        return {"error": "unknown reasons", "functions": []}
    functions: list[dict[str, Any]] = []
    try:
        load_order = _load_order(meta_graphs[0].graph_def.library)
        children = sorted(object_graph.nodes[0].children, key=lambda ref: ref.local_name)
        for ref in children:
            node = object_graph.nodes[ref.node_id]
            kind = node.WhichOneof("kind")
            arg_keywords: list[str] = []
            if kind == "function":
                names = [n for n in node.function.concrete_functions if n in load_order]
            elif kind == "bare_concrete_function":
                names = [node.bare_concrete_function.concrete_function_name]
                arg_keywords = list(node.bare_concrete_function.argument_keywords)
            else:
                continue
            options = []
            names.sort(key=lambda n: _loaded_name_key(n, load_order.get(n, 0)))
            for index, fn_name in enumerate(names, 1):
                args: Any = None
                kwargs: Any = None
                saved = object_graph.concrete_functions.get(fn_name)
                if saved is not None:
                    decoded = nested_structure_coder.decode_proto(saved.canonicalized_input_signature)
                    if decoded:
                        args, kwargs = decoded
                    elif arg_keywords:
                        args = arg_keywords
                elif arg_keywords:
                    args = arg_keywords
                options.append(
                    {
                        "index": index,
                        "args": [_describe_arg(a) for a in args] if args else [],
                        "kwargs": [{"kind": "str", "value": k, "spec": _describe_arg(v)} for k, v in kwargs.items()]
                        if kwargs
                        else [],
                    }
                )
            functions.append({"name": ref.local_name, "kind": kind, "options": options})
    except Exception:  # noqa: BLE001 - the loader would fail the same way
        return {"error": "unknown reasons", "functions": []}
    return {"error": None, "functions": functions}


def inspect_saved_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe the SavedModel in directory ``path`` (see the module docstring)."""
    saved_model = read_saved_model(path)
    tag_sets: dict[str, Any] = {}
    all_ops: set[str] = set()
    for mg in sorted(saved_model.meta_graphs, key=lambda m: list(m.meta_info_def.tags)):
        tags = list(mg.meta_info_def.tags)
        key = ",".join(tags)
        suffix = 2
        while key in tag_sets:  # duplicate tag-sets are invalid, but keep both
            key = f"{','.join(tags)}#{suffix}"
            suffix += 1
        ops = _ops_used(mg.graph_def)
        all_ops.update(ops)
        tag_sets[key] = {
            "tags": tags,
            "signature_defs": {k: _signature_def(v) for k, v in sorted(mg.signature_def.items())},
            "ops": ops,
        }
    return {
        "saved_model_dir": os.fspath(path),
        "tag_sets": tag_sets,
        "concrete_functions": _concrete_functions(saved_model, sorted(all_ops)),
    }


def inspect_onnx_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe the ``model.onnx`` in version folder ``path`` as the server shows it: one "serve"
    tag-set with its ``serving_default`` predict signature (ONNX names, TF dtypes, -1 for symbolic
    dims) and the graph's op types. Needs onnxruntime (the signature is what a session reports)."""
    from pyserving.backends.onnx.loader import MODEL_FILE, import_onnxruntime
    from pyserving.backends.onnx.model_file import op_types
    from pyserving.backends.onnx.servable import signature_of
    from pyserving.tensors.dtypes import enum_name

    model_path = os.path.join(os.fspath(path), MODEL_FILE)
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"ONNX model file does not exist at: {model_path}")
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT's pybind errors share no useful base class
        raise InspectError(f"onnxruntime cannot load {model_path}: {exc}") from None
    signature, _ = signature_of(session)

    def tensors(specs: dict[str, Any]) -> dict[str, Any]:
        return {
            alias: {
                "dtype": enum_name(spec.dtype),
                "shape": None if spec.shape is None else list(spec.shape),
                "name": spec.name,
            }
            for alias, spec in sorted(specs.items())
        }

    return {
        "saved_model_dir": os.fspath(path),
        "onnx_model": model_path,
        "tag_sets": {
            "serve": {
                "tags": ["serve"],
                "signature_defs": {
                    signature.name: {
                        "method_name": signature.method_name,
                        "inputs": tensors(signature.inputs),
                        "outputs": tensors(signature.outputs),
                    }
                },
                "ops": op_types(model_path),
            }
        },
        "concrete_functions": None,
    }


def inspect_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """:func:`inspect_saved_model`, or :func:`inspect_onnx_model` for a folder holding only a model.onnx."""
    directory = os.fspath(path)
    if _is_onnx_folder(directory):
        return inspect_onnx_model(directory)
    return inspect_saved_model(directory)


def _is_onnx_folder(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "model.onnx")) and not any(
        os.path.isfile(os.path.join(directory, name)) for name in ("saved_model.pb", "saved_model.pbtxt")
    )


def select(info: dict[str, Any], tag_set: str | None = None, signature_def: str | None = None) -> dict[str, Any]:
    """Return ``info`` restricted to one tag-set (and optionally one signature).

    ``tag_set`` is matched as a set of comma-separated tags, like
    ``saved_model_cli --tag_set``.  Raises :class:`InspectError` with
    ``saved_model_cli``'s wording when the tag-set or signature is missing.
    The "concrete_functions" entry is dropped.
    """
    if tag_set is None and signature_def is None:
        return info
    wanted = tag_set if tag_set is not None else "serve"
    wanted_tags = {t for t in wanted.split(",") if t}
    found = None
    for key, entry in info["tag_sets"].items():
        if set(entry["tags"]) == wanted_tags:
            found = (key, entry)
            break
    if found is None:
        valid = [",".join(e["tags"]) for e in info["tag_sets"].values()]
        raise InspectError(
            f"MetaGraphDef associated with tag-set {wanted} could not be found in the SavedModel. "
            f"Please use one of the following tag-sets: {valid}"
        )
    key, entry = found
    entry = dict(entry)
    if signature_def is not None:
        sigs = entry["signature_defs"]
        if signature_def not in sigs:
            raise InspectError(f'Could not find signature "{signature_def}". Please choose from: {", ".join(sigs)}')
        entry["signature_defs"] = {signature_def: sigs[signature_def]}
    out = {"saved_model_dir": info["saved_model_dir"], "tag_sets": {key: entry}}
    if "onnx_model" in info:
        out["onnx_model"] = info["onnx_model"]
    return out


# --------------------------------------------------------------------------
# Formatting


def _shape_text(shape: list[int] | None) -> str:
    if shape is None:
        return "unknown_rank"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _inputs_outputs_lines(sig: dict[str, Any], indent: int) -> list[str]:
    """``saved_model_cli``'s ``_show_inputs_outputs_mgd`` as lines."""
    pad = "  " * indent
    tpad = "  " * (indent + 1)
    lines = [pad + "The given SavedModel SignatureDef contains the following input(s):"]
    for kind, title in (("inputs", None), ("outputs", "output")):
        if title:
            lines.append(pad + "The given SavedModel SignatureDef contains the following output(s):")
        for alias, tensor in sorted(sig[kind].items()):
            lines.append(f"{pad}  {kind}['{alias}'] tensor_info:")
            lines.append(f"{tpad}    dtype: {tensor['dtype']}")
            lines.append(f"{tpad}    shape: {_shape_text(tensor['shape'])}")
            lines.append(f"{tpad}    name: {tensor['name']}")
    lines.append(pad + "Method name is: " + sig["method_name"])
    return lines


def _set_repr(items: Sequence[str]) -> str:
    return "{" + ", ".join(repr(i) for i in items) + "}" if items else "set()"


def _arg_text(args: list[dict[str, Any]], argument_type: str, write: Callable[..., None], indent: int = 4) -> None:
    """``saved_model_cli``'s ``_print_args`` (including its literal backspaces)."""
    pad = "  " * indent
    for number, element in enumerate(args, 1):
        if indent == 4:
            write(f"{pad}{argument_type} #{number}")
        kind = element["kind"]
        if kind == "str":
            write(f"{pad}  {element['value']}")
        elif kind == "tensor_spec":
            write("  " * (indent + 1) + f"{element['name']}: {element['repr']}")
        elif kind == "sequence":
            write(f"{pad}  DType: {element['type']}")
            write(f"{pad}  Value: [" + "".join(f"{v}, " for v in element["values"]) + "\b\b]")
        elif kind == "mapping":
            write(f"{pad}  DType: {element['type']}")
            write(f"{pad}  Value: {{" + "".join(f"'{k}': {v}, " for k, v in element["items"]) + "\b\b}")
        else:
            write(f"{pad}  DType: {element['type']}")
            write(f"{pad}  Value: {element['value']}")


def _concrete_functions_text(section: dict[str, Any]) -> str:
    out: list[str] = []

    def write(line: str) -> None:
        out.append(line + "\n")

    text = "\nConcrete Functions:"
    if section.get("error"):
        return text + f" N/A (could not be listed due to {section['error']})\n"
    for function in section["functions"]:
        write(f"\n  Function Name: '{function['name']}'")
        for option in function["options"]:
            if option["args"]:
                write(f"    Option #{option['index']}")
                write("      Callable with:")
                _arg_text(option["args"], "Argument", write)
            if option["kwargs"]:
                _arg_text(option["kwargs"], "Named Argument", write)
    return text + "".join(out)


def format_show_all(info: dict[str, Any]) -> str:
    """Render :func:`inspect_saved_model` output as ``saved_model_cli show --all`` stdout."""
    lines: list[str] = []
    for entry in info["tag_sets"].values():
        lines.append("")
        lines.append("MetaGraphDef with tag-set: '%s' contains the following SignatureDefs:" % ", ".join(entry["tags"]))
        for name, sig in entry["signature_defs"].items():
            lines.append("")
            lines.append(f"signature_def['{name}']:")
            lines.extend(_inputs_outputs_lines(sig, indent=1))
        lines.append(
            f"The MetaGraph with tag set {entry['tags']!r} contains the following ops: {_set_repr(entry['ops'])}"
        )
    text = "".join(line + "\n" for line in lines)
    if info.get("concrete_functions") is not None:
        text += _concrete_functions_text(info["concrete_functions"])
    return text


def format_signature_def_keys(info: dict[str, Any]) -> str:
    """Like ``saved_model_cli show --dir DIR --tag_set TAGS`` for a :func:`select`-ed info."""
    (entry,) = info["tag_sets"].values()
    lines = ["The given SavedModel MetaGraphDef contains SignatureDefs with the following keys:"]
    lines += [f'SignatureDef key: "{name}"' for name in sorted(entry["signature_defs"])]
    return "".join(line + "\n" for line in lines)


def format_signature_def(info: dict[str, Any]) -> str:
    """Like ``saved_model_cli show --dir DIR --tag_set TAGS --signature_def NAME``."""
    (entry,) = info["tag_sets"].values()
    (sig,) = entry["signature_defs"].values()
    return "".join(line + "\n" for line in _inputs_outputs_lines(sig, indent=0))


# --------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyserving inspect",
        description=(
            "Show a SavedModel's signatures like `saved_model_cli show`. Without --tag_set/--signature_def "
            "prints the `--all` view; --tag_set lists that MetaGraph's signature keys; --signature_def "
            "(tag-set defaults to 'serve') shows one signature's inputs and outputs."
        ),
    )
    parser.add_argument(
        "dir",
        help="SavedModel directory (a version folder such as models/foo/1); a folder "
        "holding a model.onnx shows the signature the server gives it",
    )
    parser.add_argument("--json", action="store_true", help="print the structured description as JSON")
    parser.add_argument("--tag_set", "--tag-set", dest="tag_set", default=None, help="comma-separated tags")
    parser.add_argument("--signature_def", "--signature-def", dest="signature_def", default=None)
    return parser


def _version_hint(directory: str) -> str:
    """Suggest the newest numeric version when DIR is a model base directory."""
    try:
        versions = [int(n) for n in os.listdir(directory) if n.isdigit()]
    except OSError:
        return ""
    if not versions:
        return ""
    return f" (it looks like a model base directory; try {os.path.join(directory, str(max(versions)))})"


def main(argv: list[str]) -> int:
    """``pyserving inspect DIR [--json] [--tag_set TAGS] [--signature_def NAME]``; returns the exit code."""
    args = _parser().parse_args(argv)
    if not _is_onnx_folder(args.dir):  # a SavedModel's signatures are read with TensorFlow's help
        import importlib.util

        if importlib.util.find_spec("tensorflow") is None:
            print(
                "error: inspecting a SavedModel needs TensorFlow: pip install 'pyserving[tensorflow]'", file=sys.stderr
            )
            return 1
        from pyserving.backends.tensorflow.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()
    try:
        info = select(inspect_model(args.dir), args.tag_set, args.signature_def)
    except FileNotFoundError as e:
        print(f"error: {e}{_version_hint(args.dir)}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        text = json.dumps(info, indent=2, ensure_ascii=False) + "\n"
    elif args.signature_def is not None:
        text = format_signature_def(info)
    elif args.tag_set is not None:
        text = format_signature_def_keys(info)
    else:
        text = format_show_all(info)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
