"""serving/tfrecord.py against TensorFlow's own TFRecord reader and writer (both directions)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyserving.core.errors import ServingError, StatusCode
from pyserving.serving.tfrecord import _python_crc32c, read_records, write_records

RECORDS = [b"", b"a", b"x" * 300, bytes(range(256)) * 300]


def test_crc32c_check_value() -> None:
    assert _python_crc32c(b"123456789") == 0xE3069283  # RFC 3720's check value


def test_round_trips_with_tensorflow(tmp_path: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = pytest.importorskip("tensorflow")
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    write_records(ours, RECORDS)
    with tf.io.TFRecordWriter(theirs) as writer:
        for record in RECORDS:
            writer.write(record)
    assert Path(ours).read_bytes() == Path(theirs).read_bytes()
    assert list(read_records(theirs)) == RECORDS
    assert list(tf.data.TFRecordDataset(ours).as_numpy_iterator()) == RECORDS


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        (lambda data: b"not a TFRecord file at all", "corrupted record at 0"),
        (lambda data: data[:-3], "truncated record at"),
        (lambda data: data[:5], "truncated record at 0"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "corrupted record at"),
    ],
    ids=["not_tfrecord", "short_footer", "short_header", "bad_data_crc"],
)
def test_damage_is_data_loss(tmp_path: Path, damage, what: str) -> None:
    path = tmp_path / "records"
    write_records(str(path), RECORDS[:3])
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ServingError) as caught:
        list(read_records(str(path)))
    assert caught.value.code == StatusCode.DATA_LOSS
    assert (
        what in caught.value.message and "Please verify your warmup data is in TFRecord format." in caught.value.message
    )
