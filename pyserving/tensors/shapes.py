"""A shape as error messages print it: ``[2,3]`` (TF's ``TensorShape::DebugString`` without spaces)."""

from __future__ import annotations

from collections.abc import Sequence


def dims_text(shape: Sequence[int] | None) -> str:
    """``[2,-1,3]``; ``unknown rank`` for None (a backend's input of any rank)."""
    return "unknown rank" if shape is None else "[" + ",".join(str(d) for d in shape) + "]"
