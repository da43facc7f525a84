"""The one reader of a SavedModel's proto file (``saved_model.pb``, or ``saved_model.pbtxt``).

Used by the loader (is a folder being copied complete yet?) and by the offline tools
(``pyserving inspect``, ``warmup_file``), which read SignatureDefs without a Session.
"""

from __future__ import annotations

import os
from typing import Any

SAVED_MODEL_PB = "saved_model.pb"
SAVED_MODEL_PBTXT = "saved_model.pbtxt"


class SavedModelParseError(ValueError):
    """The proto file is there but does not parse (saved_model_cli's wording)."""


def find_saved_model_file(directory: str) -> str | None:
    """``saved_model.pb`` (preferred) or ``saved_model.pbtxt`` in ``directory``; None when neither is."""
    for name in (SAVED_MODEL_PB, SAVED_MODEL_PBTXT):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def parse_saved_model_file(proto_path: str) -> Any:
    """The ``SavedModel`` proto in ``proto_path``: binary, or text format for ``.pbtxt``.

    ``OSError`` when it cannot be read, :class:`SavedModelParseError` when it does not parse.
    """
    from google.protobuf import message, text_format

    from pyserving.protos.tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(proto_path, "rb") as stream:
        content = stream.read()
    if proto_path.endswith(".pbtxt"):
        try:
            text_format.Merge(content.decode("utf-8"), saved_model)
        except (text_format.ParseError, UnicodeDecodeError) as exc:
            raise SavedModelParseError(f"Cannot parse pbtxt file {proto_path}: {exc}.") from exc
        return saved_model
    try:
        saved_model.ParseFromString(content)
    except message.DecodeError as exc:
        raise SavedModelParseError(f"Cannot parse proto file {proto_path}: {exc}.") from exc
    return saved_model
