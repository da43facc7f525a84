"""Peer: the same Flask app under gunicorn (sync workers, 4 by default), one TF session per worker.

    python -m bench.peers.gunicorn_flask --port 5200 --model-dir /path/to/model [--model-dir ...] [--workers 4]

or directly: ``BENCH_MODEL_DIRS=/path gunicorn -w 4 -b 127.0.0.1:5200 bench.peers.gunicorn_flask:app``
from the repository root. The app is built in each worker after the fork (no ``--preload``:
a TensorFlow session does not survive ``fork``). Sync workers close the connection after
each response (no keep-alive), as the seed's "nginx + gunicorn + flask" deployment does
behind nginx.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5200)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model-dir", action="append", required=True, help="repeat for several models")
    parser.add_argument("--model-name", action="append", default=[], help="default: each model folder's name")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    os.environ["BENCH_MODEL_DIRS"] = os.pathsep.join(str(Path(d).resolve()) for d in args.model_dir)
    os.environ["BENCH_MODEL_NAMES"] = ",".join(args.model_name)
    os.chdir(REPO)
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(args.workers),
        "-b",
        f"{args.host}:{args.port}",
        "--timeout",
        "120",
        "--log-level",
        "warning",
        "bench.peers.gunicorn_flask:app",
    ]
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
else:  # imported by a gunicorn worker (run from the repository root)
    from bench.peers.flask_app import app_from_env

    app = app_from_env()
