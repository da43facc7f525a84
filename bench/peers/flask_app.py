"""The Flask app of the seed tutorial's tier, calling TensorFlow in-process (shared by two peers).

What the seed's ``/predict`` route does, minus its per-request ``print``s: parse the JSON
body with ``request.get_json(force=True)``, run the model in a TF1 ``Session`` with
``feed_dict``, return a dict (Flask turns it into JSON with the stdlib encoder). The routes
use TF Serving's URLs so the same load generator drives every server:

* ``GET  /v1/models/<name>``          -> TF Serving's status body (the readiness probe)
* ``POST /v1/models/<name>:predict``  -> ``{"instances": [...]}`` in, ``{"predictions": [...]}`` out

No gevent here: ``flask_gevent.py`` monkey-patches before importing this module and
``gunicorn_flask.py`` runs it under plain sync workers.
"""

from __future__ import annotations

import os

import numpy as np
from flask import Flask, abort, request

from bench.peers.common import model_name, read_signature, status_body, version_dir


def _load(model_dir: str):
    """A TF1 session with the SavedModel loaded, as the seed would: (session, feed name, fetch name)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    signature = read_signature(model_dir)
    graph = tf.Graph()
    session = v1.Session(graph=graph)
    with graph.as_default():
        v1.saved_model.loader.load(session, ["serve"], str(version_dir(model_dir)))
    return session, signature.input_tensor, signature.output_tensor


def create_app(model_dirs: list[str], names: list[str] | None = None) -> Flask:
    """One Flask app serving each model (a session per model) under its folder's name."""
    names = list(names or []) + [model_name(d) for d in model_dirs[len(names or []) :]]
    models = {name: _load(model_dir) for name, model_dir in zip(names, model_dirs, strict=False)}

    app = Flask(__name__)

    @app.route("/v1/models/<model>", methods=["GET"])
    def status(model: str):
        if model not in models:
            abort(404)
        return status_body()

    @app.route("/v1/models/<model>:predict", methods=["POST"])
    def predict(model: str):
        if model not in models:
            abort(404)
        session, feed_name, fetch_name = models[model]
        data = request.get_json(force=True)
        x = np.asarray(data["instances"], dtype=np.float32)
        y = session.run(fetch_name, feed_dict={feed_name: x})
        return {"predictions": y.tolist()}

    return app


def app_from_env() -> Flask:
    """For WSGI servers that import a module: ``BENCH_MODEL_DIRS`` (``os.pathsep``-separated)."""
    dirs = [d for d in os.environ["BENCH_MODEL_DIRS"].split(os.pathsep) if d]
    names = [n for n in os.environ.get("BENCH_MODEL_NAMES", "").split(",") if n]
    return create_app(dirs, names)
