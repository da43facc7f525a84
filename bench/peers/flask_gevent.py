"""Peer: the seed tutorial's Flask + gevent server, running the model in-process.

    python -m bench.peers.flask_gevent --port 5100 --model-dir /path/to/model_base_or_version [--model-dir ...]

The seed's recipe: ``from gevent import monkey; monkey.patch_all()`` first, a Flask
route that runs TensorFlow directly (TF1 ``Session.run``), served by
``gevent.pywsgi.WSGIServer``. ``Session.run`` blocks the gevent hub, so requests are
served one at a time. The seed wrapped the app in werkzeug's ``DebuggedApplication``;
``--debugged`` does the same (off by default: it only adds overhead).
"""

from gevent import monkey

monkey.patch_all()

import argparse

from gevent import pywsgi

from bench.peers.flask_app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5100)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model-dir", action="append", required=True, help="repeat for several models")
    parser.add_argument("--model-name", action="append", default=[], help="default: each model folder's name")
    parser.add_argument("--debugged", action="store_true", help="wrap in werkzeug DebuggedApplication")
    args = parser.parse_args()
    app = create_app(args.model_dir, args.model_name)
    wsgi = app
    if args.debugged:
        from werkzeug.debug import DebuggedApplication

        wsgi = DebuggedApplication(app, evalex=True)
    server = pywsgi.WSGIServer((args.host, args.port), wsgi, log=None)
    print(f"flask+gevent on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
