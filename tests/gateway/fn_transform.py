"""A transform given as a module of plain functions (import string without ``:Name``)."""

from __future__ import annotations

from typing import Any


def preprocess(payload: Any) -> dict[str, Any]:
    return {"x": [[float(payload["x"])]]}


def postprocess(outputs: Any, payload: Any) -> dict[str, Any]:
    return {"y": float(outputs["y"][0, 0])}
