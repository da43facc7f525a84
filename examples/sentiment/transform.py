"""Chinese sentiment transform: text in, jieba tokens to the lstm model, a label out.

The seed tutorial's client did this segmentation in every caller; here it runs
once, in the gateway. ``preprocess`` is plain ``def`` (jieba is CPU work), so
the gateway runs it in its thread pool, off the event loop.

    {"text": "这家酒店很好"}             -> {"label": "POS", "confidence": 0.9, "scores": {...}}
    {"texts": ["很好", "太差"]}          -> [{...}, {...}]
    GET /sentiment?text=这家酒店很好     -> same as the first
"""

from __future__ import annotations

from typing import Any

import jieba
import numpy as np

from pyserving.gateway import BadRequest

# Class order of the model's softmax (assets/vocab.labels.txt; index 2 is the UNK bucket).
CLASSES = ("NEG", "POS")


class SentimentTransform:
    """Stateless after __init__; safe to call from several threads at once."""

    def __init__(self, max_texts: int = 64, max_chars: int = 2000) -> None:
        self.max_texts = max_texts
        self.max_chars = max_chars
        jieba.setLogLevel(30)
        jieba.initialize()  # load the dictionary now, not on the first request

    def _texts(self, payload: Any) -> tuple[list[str], bool]:
        if not isinstance(payload, dict):
            raise BadRequest('expected a JSON object: {"text": "..."} or {"texts": ["...", ...]}')
        if "text" in payload:
            texts, single = [payload["text"]], True
        elif "texts" in payload:
            texts, single = payload["texts"], False
            if isinstance(texts, str):  # GET ?texts=a (one value) arrives as a string
                texts = [texts]
            if not isinstance(texts, list) or not texts:
                raise BadRequest("'texts' must be a non-empty list of strings")
            if len(texts) > self.max_texts:
                raise BadRequest(f"at most {self.max_texts} texts per request, got {len(texts)}")
        else:
            raise BadRequest("missing 'text' (one string) or 'texts' (a list of strings)")
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise BadRequest("every text must be a non-empty string")
            if len(text) > self.max_chars:
                raise BadRequest(f"a text is longer than {self.max_chars} characters")
        return texts, single

    def preprocess(self, payload: Any) -> dict[str, Any]:
        texts, _ = self._texts(payload)
        tokens = [[w for w in jieba.lcut(text) if w.strip()] for text in texts]
        width = max(1, max(len(t) for t in tokens))
        return {
            "words": [t + [""] * (width - len(t)) for t in tokens],  # padding is ignored past nwords
            "nwords": [len(t) for t in tokens],
        }

    def postprocess(self, outputs: dict[str, np.ndarray], payload: Any) -> Any:
        _, single = self._texts(payload)
        labels, softmax = outputs["labels"], outputs["softmax"]
        results = []
        for label, scores in zip(labels, softmax, strict=False):
            name = label.decode() if isinstance(label, bytes) else str(label)
            index = CLASSES.index(name) if name in CLASSES else int(np.argmax(scores))
            results.append(
                {
                    "label": name,
                    "confidence": round(float(scores[index]), 6),
                    "scores": {cls: round(float(scores[i]), 6) for i, cls in enumerate(CLASSES)},
                }
            )
        return results[0] if single else results
