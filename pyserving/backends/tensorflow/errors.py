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
        error = tf_error(exc)
        assert error is not None  # an OpError always maps
        raise error from exc


def tf_error(exc: BaseException) -> ServingError | None:
    """The ServingError for a TensorFlow OpError, else None (for hot paths: no context manager)."""
    import tensorflow as tf

    if isinstance(exc, tf.errors.OpError):
        return ServingError(exc.message, StatusCode(exc.error_code))
    if isinstance(exc, UnicodeDecodeError):
        # TF's status message quoted the input's bytes, and they are not UTF-8: Python cannot
        # even build the OpError. The input is at fault (e.g. junk fed to a ParseExample op).
        return ServingError(
            "The model rejected an input, and TensorFlow's error message holds bytes that are not "
            "valid UTF-8 (is a string input what the signature expects, e.g. a serialized tf.Example?)",
            StatusCode.INVALID_ARGUMENT,
        )
    return None
