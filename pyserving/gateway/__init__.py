"""The pre/post-processing gateway: one domain in front of many model servers.

It replaces the seed tutorial's Flask + gevent tier: callers send plain JSON
(text, query parameters), a per-route *transform* turns it into model inputs
and the model's outputs into the answer, and API keys, rate limits, error
shapes and upstream failover live here instead of in every front end.

A separate ASGI app (``app.create_app``) with its own CLI (``cli.main``).
Importing this package imports neither TensorFlow nor any server module: the
gRPC transport imports grpc and ``pyserving.protos`` lazily, REST never does.
"""

from __future__ import annotations

__all__ = ["BadRequest"]

from pyserving.gateway.transform import BadRequest
