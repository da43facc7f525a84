"""Transforms the gateway tests route through (imported by the gateway process by import string).

Each one reports the thread it ran on, so tests can check that sync code runs
in the gateway's pool and async code on the event loop.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from pyserving.gateway import BadRequest


def _texts(payload: Any) -> tuple[list[str], bool]:
    if isinstance(payload, dict) and isinstance(payload.get("text"), str):
        return [payload["text"]], True
    if isinstance(payload, dict) and isinstance(payload.get("texts"), list):
        return payload["texts"], False
    raise BadRequest("send 'text' or 'texts'")


class Tokens:
    """Sync: space-separated tokens for the string model; single item or batch."""

    def preprocess(self, payload: Any) -> dict[str, Any]:
        texts, _ = _texts(payload)
        tokens = [t.split() for t in texts]
        width = max(1, max(len(t) for t in tokens))
        return {
            "words": [t + [""] * (width - len(t)) for t in tokens],
            "nwords": np.array([len(t) for t in tokens], dtype=np.int64),
        }  # cast to int32

    def postprocess(self, outputs: dict[str, np.ndarray], payload: Any) -> Any:
        _, single = _texts(payload)
        assert all(isinstance(label, bytes) for label in outputs["labels"])
        rows = [
            {"label": label, "pos": float(scores[1]), "thread": threading.current_thread().name}
            for label, scores in zip(outputs["labels"], outputs["softmax"], strict=False)
        ]
        return rows[0] if single else rows


class AsyncHalfPlusTwo:
    """Async: {"x": 1} or {"xs": [...]} (query values arrive as strings); options scale the result."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    async def preprocess(self, payload: Any) -> dict[str, Any]:
        if "x" in payload:
            return {"x": [[float(payload["x"])]]}
        if "xs" in payload:
            return {"x": [[float(v)] for v in payload["xs"]]}
        raise BadRequest("send 'x' or 'xs'")

    async def postprocess(self, outputs: dict[str, np.ndarray], payload: Any) -> Any:
        ys = (outputs["y"][:, 0] * self.scale).tolist()
        thread = threading.current_thread().name
        return {"y": ys[0], "thread": thread} if "x" in payload else {"ys": ys, "thread": thread}


class PredictBody:
    """Sync preprocess returning a TF Serving predict body (row format); no postprocess."""

    def preprocess(self, payload: Any) -> dict[str, Any]:
        return {"instances": [[v] for v in payload["xs"]]}


class CallerInputs:
    """No preprocess (the caller sends model inputs), async postprocess."""

    async def postprocess(self, outputs: dict[str, np.ndarray], payload: Any) -> Any:
        return {"labels": outputs["labels"], "ids": outputs["classes_id"]}  # bytes and numpy: JSON


class Raising:
    def preprocess(self, payload: Any) -> Any:
        raise RuntimeError("database password is hunter2")


class RaisingPost:
    async def preprocess(self, payload: Any) -> Any:
        return {"x": [[1.0]]}

    def postprocess(self, outputs: Any, payload: Any) -> Any:
        raise KeyError("no such output")


class WrongInputs:
    def preprocess(self, payload: Any) -> Any:
        return {"not_an_input": [1.0]}


class NotJson:
    def preprocess(self, payload: Any) -> Any:
        return {"x": [[1.0]]}

    def postprocess(self, outputs: Any, payload: Any) -> Any:
        return {"value": object()}
