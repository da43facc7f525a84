"""Translate TensorFlow exceptions into ServingError, keeping TF's code and message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyserving.core.errors import ServingError, StatusCode


@contextmanager
def map_tf_errors() -> Iterator[None]:
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as exc:
        raise ServingError(exc.message, StatusCode(exc.error_code)) from exc
