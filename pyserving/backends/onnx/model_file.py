"""Reads what the server needs of a ``model.onnx`` straight from its protobuf wire format.

Why not ``onnx.load``: the ``onnx`` package is not a dependency of the serving extra (ONNX
Runtime parses the model itself), and a poll of a folder being copied must not read a
multi-gigabyte file into memory. The file is memory-mapped and walked field by field;
initializers (the weights) are skipped by their length, never read.

* ``is_complete``: the ModelProto's top-level fields are whole (a file still being copied
  ends in the middle of one) and it has a ``graph`` and an ``opset_import``.
* ``control_flow_ops``: the op types of nodes whose run time the input *values* decide
  (``Loop``, ``Scan``, ``If``, and any node carrying a subgraph), in the main graph and in
  the model's local functions.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

# ModelProto, GraphProto, NodeProto, AttributeProto, FunctionProto field numbers (onnx.proto3).
_MODEL_GRAPH, _MODEL_OPSET_IMPORT, _MODEL_FUNCTIONS = 7, 8, 25
_GRAPH_NODE = 1
_NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 4, 5, 7
_ATTRIBUTE_G, _ATTRIBUTE_GRAPHS = 6, 11
_FUNCTION_NODE = 7

CONTROL_FLOW_OPS = frozenset({"Loop", "Scan", "If"})


class WireError(ValueError):
    """The bytes are not a whole protobuf message."""


def _varint(buf: memoryview | mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf: memoryview | mmap.mmap, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end) of each field of one message; the value
    of a varint field is its start offset's varint, of a LEN field the bytes [start, end)."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == 0:
            value_start = pos
            _, pos = _varint(buf, pos, end)
        elif wire_type == 1:
            value_start, pos = pos, pos + 8
        elif wire_type == 2:
            length, value_start = _varint(buf, pos, end)
            pos = value_start + length
        elif wire_type == 5:
            value_start, pos = pos, pos + 4
        else:
            raise WireError(f"wire type {wire_type}")
        if pos > end:
            raise WireError("truncated field")
        yield number, wire_type, value_start, pos


def _mapped(path: str) -> mmap.mmap | None:
    with open(path, "rb") as stream:
        if os.fstat(stream.fileno()).st_size == 0:
            return None
        return mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)


def is_complete(path: str) -> bool:
    """Whether ``path`` holds a whole ModelProto with a graph and an opset (see module doc)."""
    try:
        buf = _mapped(path)
    except OSError:
        return False
    if buf is None:
        return False
    try:
        seen = {number for number, _, _, _ in fields(buf, 0, len(buf))}
    except WireError:
        return False
    finally:
        buf.close()
    return _MODEL_GRAPH in seen and _MODEL_OPSET_IMPORT in seen


def _nodes_ops(buf: mmap.mmap, start: int, end: int, node_field: int) -> Iterator[str]:
    for number, wire_type, node_start, node_end in fields(buf, start, end):
        if number != node_field or wire_type != 2:
            continue
        op_type, has_subgraph = "", False
        for field, kind, value_start, value_end in fields(buf, node_start, node_end):
            if field == _NODE_OP_TYPE and kind == 2:
                op_type = bytes(buf[value_start:value_end]).decode("utf-8", "replace")
            elif field == _NODE_ATTRIBUTE and kind == 2:
                has_subgraph = has_subgraph or any(
                    f in (_ATTRIBUTE_G, _ATTRIBUTE_GRAPHS) for f, _, _, _ in fields(buf, value_start, value_end)
                )
        if op_type in CONTROL_FLOW_OPS or has_subgraph:
            yield op_type


def control_flow_ops(path: str) -> set[str]:
    """Op types of the model's control-flow nodes (empty for a straight-line graph).

    WireError when the file is not a ModelProto (ONNX Runtime has accepted it by then, so
    the caller treats that as "unknown": not bounded).
    """
    buf = _mapped(path)
    if buf is None:
        raise WireError("empty file")
    try:
        found: set[str] = set()
        for number, wire_type, start, end in fields(buf, 0, len(buf)):
            if wire_type != 2:
                continue
            if number == _MODEL_GRAPH:
                found.update(_nodes_ops(buf, start, end, _GRAPH_NODE))
            elif number == _MODEL_FUNCTIONS:
                found.update(_nodes_ops(buf, start, end, _FUNCTION_NODE))
        return found
    finally:
        buf.close()


def op_types(path: str) -> list[str]:
    """The sorted op types of the main graph's nodes, domain-qualified outside the default domain
    (``ai.onnx.ml.LinearClassifier``): what ``pyserving inspect`` lists as a model's ops."""
    buf = _mapped(path)
    if buf is None:
        raise WireError("empty file")
    try:
        found: set[str] = set()
        for number, wire_type, start, end in fields(buf, 0, len(buf)):
            if number != _MODEL_GRAPH or wire_type != 2:
                continue
            for node_field, kind, node_start, node_end in fields(buf, start, end):
                if node_field != _GRAPH_NODE or kind != 2:
                    continue
                op_type = domain = ""
                for field, value_kind, value_start, value_end in fields(buf, node_start, node_end):
                    if value_kind != 2:
                        continue
                    if field == _NODE_OP_TYPE:
                        op_type = bytes(buf[value_start:value_end]).decode("utf-8", "replace")
                    elif field == _NODE_DOMAIN:
                        domain = bytes(buf[value_start:value_end]).decode("utf-8", "replace")
                found.add(f"{domain}.{op_type}" if domain and domain != "ai.onnx" else op_type)
        return sorted(found)
    finally:
        buf.close()
