"""Models the operations tests need beyond tests/helpers/models.py.

``export_sleep_model``: ``serving_default`` takes ``x`` (float32, [-1]) and
returns it unchanged after busy-waiting ``max(x)`` seconds inside the graph
(a ``tf.while_loop`` on ``tf.timestamp()``: no py_function, and a session run
timeout cancels it like any TF op). Requests that take a known, real time.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers.models import PREDICT_METHOD, SERVE_TAG, _export_atomically, _signature, _tf


def export_sleep_model(path: str | os.PathLike[str]) -> Path:
    tf = _tf()
    v1 = tf.compat.v1

    def build(export_dir: Path, _scratch: Path) -> None:
        with tf.Graph().as_default(), v1.Session() as sess:
            x = v1.placeholder(tf.float32, shape=[None], name="x")
            seconds = tf.cast(tf.reduce_max(x), tf.float64)
            start = tf.timestamp()
            spins = tf.while_loop(
                lambda i: tf.timestamp() - start < seconds, lambda i: i + 1, [tf.constant(0, tf.int64)]
            )
            spins = spins[0] if isinstance(spins, (list, tuple)) else spins
            with tf.control_dependencies([spins]):
                y = tf.identity(x, name="y")
            builder = v1.saved_model.Builder(str(export_dir))
            builder.add_meta_graph_and_variables(
                sess,
                [SERVE_TAG],
                signature_def_map={"serving_default": _signature({"x": x}, {"y": y}, PREDICT_METHOD)},
                strip_default_attrs=True,
            )
            builder.save()

    return _export_atomically(path, build)
