"""Read TFRecord files (warmup requests) without TensorFlow.

Why: every platform replays ``assets.extra/tf_serving_warmup_requests``, and a server of ONNX and
Python models must not import TensorFlow (or need it installed) to read one. The framing is
TensorFlow's: ``uint64 length``, ``uint32 masked crc32c(length)``, the data, ``uint32 masked
crc32c(data)``, little-endian; both checksums are verified, as TensorFlow's reader does.
``google-crc32c`` computes them when installed, else a table in Python (warmup files are small).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from pyserving.core.errors import ServingError, StatusCode

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8
_HINT = "Please verify your warmup data is in TFRecord format."


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


def _python_crc32c(data: bytes) -> int:
    table = _TABLE
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc32c_function() -> Callable[[bytes], int]:
    try:
        import google_crc32c

        return lambda data: int(google_crc32c.value(data))
    except ImportError:
        return _python_crc32c


_TABLE = _table()
crc32c = _crc32c_function()


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def read_records(path: str) -> Iterator[bytes]:
    """The records of a TFRecord file; ServingError DATA_LOSS on a corrupted or truncated one."""
    try:
        with open(path, "rb") as stream:
            offset = 0
            while True:
                header = stream.read(_HEADER.size)
                if not header:
                    return
                if len(header) < _HEADER.size:
                    raise _data_loss(f"truncated record at {offset}")
                length, length_crc = _HEADER.unpack(header)
                if masked_crc32c(header[:8]) != length_crc:
                    raise _data_loss(f"corrupted record at {offset}")
                data = stream.read(length)
                footer = stream.read(_FOOTER.size)
                if len(data) < length or len(footer) < _FOOTER.size:
                    raise _data_loss(f"truncated record at {offset}")
                if masked_crc32c(data) != _FOOTER.unpack(footer)[0]:
                    raise _data_loss(f"corrupted record at {offset}")
                yield data
                offset += _HEADER.size + length + _FOOTER.size
    except OSError as exc:
        raise ServingError(f"Failed to read warmup data at {path}: {exc.strerror}", StatusCode.NOT_FOUND) from None


def _data_loss(what: str) -> ServingError:
    return ServingError(f"{what}. {_HINT}", StatusCode.DATA_LOSS)
