"""Text-format config files, read and parsed with TF Serving's error wording."""

from __future__ import annotations

from typing import Any


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
