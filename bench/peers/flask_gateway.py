"""Peer: the seed tutorial's Flask + gevent gateway in front of a model server.

    python -m bench.peers.flask_gateway --port 5100 --grpc-target 127.0.0.1:8500 --model lstm

The seed's "Flask服务" section: ``gevent.monkey.patch_all()`` first, a Flask route
that accepts GET (query) and POST (JSON), segments the text with jieba, builds
the request with ``make_tensor_proto`` and calls TF Serving with the stock
``PredictionServiceStub``, served by ``gevent.pywsgi.WSGIServer``. It answers
``POST/GET /sentiment`` with the same JSON as examples/sentiment, so the
benchmark compares like with like.

Three fixes over the seed, so the comparison is fair to Flask + gevent:
``grpc.experimental.gevent.init_gevent()`` (without it a gRPC call blocks the
gevent hub, and requests run one at a time), one channel shared by all
requests (the seed opened a channel per call), and TCP_NODELAY on accepted
sockets (pywsgi writes headers and body separately, so Nagle's algorithm and
the client's delayed ACK add ~40 ms to every response). ``--seed-faithful``
restores all three of the seed's choices.
"""

from gevent import monkey

monkey.patch_all()

import argparse
import os
import socket
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SEED_FAITHFUL = "--seed-faithful" in sys.argv
import grpc

if not SEED_FAITHFUL:
    from grpc.experimental import gevent as grpc_gevent

    grpc_gevent.init_gevent()

import jieba
from flask import Flask, jsonify, request
from gevent import pywsgi
from tensorflow import make_tensor_proto
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

CLASSES = ("NEG", "POS")


def create_app(target: str, model: str, seed_faithful: bool) -> Flask:
    app = Flask(__name__)
    options = [
        ("grpc.max_send_message_length", 10 * 1024 * 1024),
        ("grpc.max_receive_message_length", 10 * 1024 * 1024),
    ]
    shared_stub = (
        None
        if seed_faithful
        else prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(target, options=options))
    )

    def predict(tokens: list[str]) -> predict_pb2.PredictResponse:
        req = predict_pb2.PredictRequest()
        req.model_spec.name = model
        req.model_spec.signature_name = "serving_default"
        req.inputs["words"].CopyFrom(make_tensor_proto([tokens], shape=[1, len(tokens)]))
        req.inputs["nwords"].CopyFrom(make_tensor_proto([len(tokens)], shape=[1]))
        if shared_stub is not None:
            return shared_stub.Predict(req, 30)
        channel = grpc.insecure_channel(target, options=options)
        try:
            return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(req, 30)
        finally:
            channel.close()

    @app.route("/sentiment", methods=["GET", "POST"])
    def sentiment():  # type: ignore[no-untyped-def]
        data = request.args.to_dict() if request.method == "GET" else request.get_json(force=True)
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            return jsonify({"error": "missing 'text'"}), 400
        tokens = [w for w in jieba.lcut(text) if w.strip()] or [""]
        result = predict(tokens)
        label = result.outputs["labels"].string_val[0].decode()
        softmax = list(result.outputs["softmax"].float_val)
        index = CLASSES.index(label) if label in CLASSES else 0
        return jsonify(
            {
                "label": label,
                "confidence": round(softmax[index], 6),
                "scores": {c: round(softmax[i], 6) for i, c in enumerate(CLASSES)},
            }
        )

    return app


class NoDelayHandler(pywsgi.WSGIHandler):
    """pywsgi's handler with Nagle's algorithm off for the connection."""

    def handle(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5100)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc-target", default="127.0.0.1:8500")
    parser.add_argument("--model", default="lstm")
    parser.add_argument(
        "--seed-faithful",
        action="store_true",
        help="a channel per request and no grpc gevent integration, as in the seed",
    )
    args = parser.parse_args()
    jieba.setLogLevel(30)
    jieba.initialize()
    app = create_app(args.grpc_target, args.model, args.seed_faithful)
    handler = pywsgi.WSGIHandler if args.seed_faithful else NoDelayHandler
    server = pywsgi.WSGIServer((args.host, args.port), app, log=None, handler_class=handler)
    print(f"flask+gevent gateway on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
