"""parse_json reads a body as TF Serving's rapidjson does: first document only, first of repeated keys."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pyserving.apis.json_format import parse_json
from pyserving.apis.json_values import render


def first_value(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        obj.setdefault(key, value)
    return obj


def reference(body: bytes) -> Any:
    """The standard library with rapidjson's rules: stop after the first document, first key wins."""
    text = body.decode()
    constants = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    decoder = json.JSONDecoder(object_pairs_hook=first_value, parse_constant=constants.__getitem__)
    return decoder.raw_decode(text, len(text) - len(text.lstrip()))[0]


def encode(value: Any) -> str:
    """JSON text; an object is a list of pairs here, so that keys may repeat."""
    if isinstance(value, tuple):
        return "{" + ", ".join(f"{json.dumps(k)}: {encode(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(encode(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=len(str(value)) % 2 == 1)  # both escapings of non-ASCII


keys = st.sampled_from(["a", "b", "x", "a:b", ":", "instances"])
scalars = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet='ab:\\"é{}[],', max_size=6),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(st.tuples(keys, inner), max_size=4).map(tuple)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(
    doc=st.lists(st.tuples(keys, values), min_size=1, max_size=5).map(tuple),
    trailing=st.sampled_from(["", "  ", "x", " {", "}", "[1]"]),
)
def test_first_value_of_repeated_keys_and_trailing_bytes_ignored(doc: tuple, trailing: str) -> None:
    body = (encode(doc) + trailing).encode()
    assert parse_json(body) == reference(body)


def test_escaped_colons_do_not_hide_a_repeated_key() -> None:
    assert parse_json(b'{"a": "\\u003a", "a": 2, "b": 1}') == {"a": ":", "b": 1}


def test_render_is_rapidjsons_pretty_writer_with_single_line_arrays() -> None:
    assert (
        render({"a": [1, {"b": []}], "c": {}}) == '{\n    "a": [1, {\n            "b": []\n        }],\n    "c": {}\n}'
    )
    assert render([1.5, "x"]) == '[1.5, "x"]'
    assert render(math.nan) == ""
    assert render(list(range(1000))).endswith("...") and len(render(list(range(1000)))) == 259
