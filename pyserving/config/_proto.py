"""Builds TF Serving config messages that tensorflow-serving-api does not ship.

The wheel lacks ``monitoring_config_pb2`` and ``ssl_config_pb2``. Their protos
are tiny (scalar fields only), so each is described here field by field and
added to the default descriptor pool under TF Serving's own file and message
names; ``text_format`` then parses TF Serving's files unchanged. If a later
wheel ships the real module, that one is used instead.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

_LOCK = threading.Lock()
_SCALARS = {"bool": 8, "string": 9, "int32": 5, "int64": 3}  # FieldDescriptorProto.Type
_TYPE_MESSAGE = 11


def message_class(file_name: str, messages: dict[str, list[tuple[str, int, str]]], name: str) -> Any:
    """``tensorflow.serving.<name>`` from ``file_name``; fields are (name, number, type)."""
    module_name = file_name.removesuffix(".proto").replace("/", ".") + "_pb2"
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        pass
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    pool = descriptor_pool.Default()
    with _LOCK:
        try:
            pool.FindFileByName(file_name)
        except KeyError:
            proto = descriptor_pb2.FileDescriptorProto(name=file_name, package="tensorflow.serving", syntax="proto3")
            for message_name, fields in messages.items():
                message = proto.message_type.add(name=message_name)
                for field_name, number, kind in fields:
                    field = message.field.add(name=field_name, number=number, label=1)
                    if kind in _SCALARS:
                        field.type = _SCALARS[kind]
                    else:
                        field.type = _TYPE_MESSAGE
                        field.type_name = kind
            pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))


def parse_text(message: Any, text: str, source: str) -> Any:
    """``text_format.Parse`` with TF Serving's error wording ("Error parsing text-format <type>")."""
    from google.protobuf import text_format

    from pyserving.core.errors import InvalidArgumentError

    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise InvalidArgumentError(
            f"Error parsing text-format {message.DESCRIPTOR.full_name} from {source}: {exc}"
        ) from None
    return message


def read_text(path: str, flag: str) -> str:
    """A config file's text, or an error that names the flag it came from."""
    from pyserving.core.errors import InvalidArgumentError

    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except OSError as exc:
        raise InvalidArgumentError(f"Cannot read --{flag} {path}: {exc.strerror}") from None
