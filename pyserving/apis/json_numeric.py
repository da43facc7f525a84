"""Numeric predict bodies read straight into numpy, without a Python object per number.

``orjson.loads`` + ``np.array`` spend ~1 µs of GIL time per number (a Python float
each, then numpy walks the lists again): 1.1 ms for a 32x512 float body, as much as
the model takes to run it. simdjson parses the same body to its tape and copies the
numbers into one buffer in ~0.3 ms. This path takes only bodies it can read with
certainty — plain, regular (non-ragged) numeric arrays under ``instances`` or
``inputs`` — and returns ``None`` for everything else, so the general path in
``json_format`` still decides every error and every other form, with TF Serving's texts.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import simdjson

from pyserving.apis.json_values import INT_RANGES
from pyserving.tensors.dtypes import DataType, base_dtype, to_numpy
from pyserving.tensors.signature import Signature

_KEYS = {"instances", "inputs", "signature_name"}
REUSED_PARSER_MAX_BYTES = 4 << 20
_local = threading.local()  # one reusable simdjson parser per thread
# Regularity is checked list by list in Python; past this many lists the general path is as fast.
MAX_CHECKED_LISTS = 4096
# simdjson's buffer types: doubles for float inputs, exact 64-bit integers for integer inputs.
_BUFFER_TYPES: dict[int, tuple[str, type]] = {
    DataType.DT_FLOAT: ("d", np.float64),
    DataType.DT_DOUBLE: ("d", np.float64),
    **{dtype: ("i", np.int64) for dtype in INT_RANGES if dtype != DataType.DT_UINT64},
    DataType.DT_UINT64: ("u", np.uint64),
}


@dataclass
class NumericBody:
    """A predict body whose tensors are regular numeric arrays (simdjson proxies until read)."""

    signature_name: str
    row_format: bool
    arrays: dict[str, Any] | Any  # alias -> simdjson.Array, or one unnamed simdjson.Array
    shapes: dict[str, tuple[int, ...]] | tuple[int, ...]

    def tensors(self, signature: Signature) -> dict[str, np.ndarray] | None:
        """The input tensors, or None where the general path must decide (dtypes, names)."""
        specs = signature.inputs
        if isinstance(self.arrays, dict):
            if self.row_format or set(self.arrays) != set(specs):
                return None
            pairs = [(alias, self.arrays[alias], self.shapes[alias]) for alias in specs]  # type: ignore[index]
        else:
            if len(specs) != 1:
                return None
            (alias,) = specs
            pairs = [(alias, self.arrays, self.shapes)]
        tensors = {}
        for alias, array, shape in pairs:
            tensor = _read(array, shape, specs[alias].dtype)
            if tensor is None:
                return None
            tensors[alias] = tensor
        return tensors


def numeric_body(body: bytes) -> NumericBody | None:
    """The body as a NumericBody when it is one, else None (never raises)."""
    try:
        doc = _parse(body)
    except (ValueError, TypeError, RuntimeError, UnicodeDecodeError):
        return None
    if not isinstance(doc, simdjson.Object):
        return None
    keys = _unique_keys(doc)
    if keys is None or not keys <= _KEYS or ("instances" in keys) == ("inputs" in keys):
        return None
    signature_name = doc.get("signature_name", "")
    if not isinstance(signature_name, str):
        return None
    row_format = "instances" in keys
    value = doc["instances" if row_format else "inputs"]
    named = isinstance(value, simdjson.Object)
    aliases = _unique_keys(value) if named else {""}
    if aliases is None:
        return None
    values = {alias: value[alias] for alias in aliases} if named else {"": value}
    shapes = {}
    expected_lists = 0
    for alias, array in values.items():
        shape = _regular_shape(array)
        if shape is None:
            return None
        shapes[alias] = shape
        expected_lists += _list_count(shape)
    # Every '[' of the body is one of the lists counted above: none hides among the numbers
    # (as_buffer would flatten it) and none is in a string, so the count must match exactly.
    if _open_brackets(body, expected_lists + 1) != expected_lists:
        return None
    if named:
        return NumericBody(signature_name, row_format, values, shapes)
    return NumericBody(signature_name, row_format, value, shapes[""])


def _parse(body: bytes) -> Any:
    """simdjson's document, from this thread's parser while no earlier document still uses it.

    A reused parser keeps its buffers (sized to the largest body so far, up to
    REUSED_PARSER_MAX_BYTES) allocated and warm in cache; a new one allocates ~3x the body.
    """
    if len(body) > REUSED_PARSER_MAX_BYTES:
        return simdjson.Parser().parse(body)
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = simdjson.Parser()
    try:
        return parser.parse(body)
    except RuntimeError:  # the previous document is still referenced
        return simdjson.Parser().parse(body)


def _open_brackets(body: bytes, stop_at: int) -> int:
    """How many '[' the body holds, counting up to stop_at.

    One memchr-backed find per list: 7 us on the 137 KB MLP body, against 20 us for
    numpy in slices and 200 us for one numpy mask of the whole body (a fresh mapping
    past glibc's mmap threshold, faulted in on every request).
    """
    count, position = 0, body.find(b"[")
    while position >= 0 and count < stop_at:
        count += 1
        position = body.find(b"[", position + 1)
    return count


def _unique_keys(obj: Any) -> set[str] | None:
    """The keys of an object; None when one repeats (the general path keeps the first, as TF Serving)."""
    keys = list(obj.keys())
    unique = set(keys)
    return unique if len(unique) == len(keys) else None


def _regular_shape(array: Any) -> tuple[int, ...] | None:
    """The shape of a non-empty array whose lists all have their level's length, else None."""
    if not isinstance(array, simdjson.Array):
        return None
    shape = []
    item = array
    while isinstance(item, simdjson.Array):
        if len(item) == 0:
            return None
        shape.append(len(item))
        item = item[0]
    if _list_count(shape) - 1 > MAX_CHECKED_LISTS or not _lists_match(array, shape, 0):
        return None
    return tuple(shape)


def _lists_match(array: Any, shape: list[int], level: int) -> bool:
    if level == len(shape) - 1:
        return True  # leaves: their number and type are checked when the buffer is read
    width = shape[level + 1]
    for item in array:
        if not isinstance(item, simdjson.Array) or len(item) != width:
            return False
        if not _lists_match(item, shape, level + 1):
            return False
    return True


def _list_count(shape: tuple[int, ...] | list[int]) -> int:
    """How many lists a regular array of this shape has (itself included)."""
    return sum(math.prod(shape[:level]) for level in range(len(shape)))


def _read(array: Any, shape: tuple[int, ...], dtype: int) -> np.ndarray | None:
    dtype = base_dtype(dtype)
    buffer_type = _BUFFER_TYPES.get(dtype)
    if buffer_type is None:
        return None
    of_type, buffer_dtype = buffer_type
    try:
        values = np.frombuffer(array.as_buffer(of_type=of_type), dtype=buffer_dtype)
    except (TypeError, ValueError):
        return None  # a bool, string, null or object among the numbers; or out of range
    if values.size != math.prod(shape):
        return None
    if dtype in INT_RANGES and dtype not in (DataType.DT_INT64, DataType.DT_UINT64):
        low, high = INT_RANGES[DataType(dtype)]
        if int(values.min()) < low or int(values.max()) > high:
            return None
    return values.astype(to_numpy(dtype), copy=False).reshape(shape)
