"""Peer (ceiling): a bare ASGI app on uvicorn (httptools + uvloop) that parses the request and runs no model.

    python -m bench.peers.bare_uvicorn --port 5300 [--model tiny:1 --model mlp:10] [--model-dir DIR ...]

``POST /v1/models/<name>:predict`` reads the body, ``orjson.loads`` it, counts the
instances and answers a constant ``{"predictions": [[0.0, ...], ...]}`` with one row per
instance and the model's output width (``--model NAME:WIDTH``, or read from
``--model-dir``'s signature; 1 for unknown names). ``GET /v1/models/<name>`` answers
TF Serving's status body. This is what the HTTP layer alone can do in Python on this
machine: no routing framework, no tensors, no model.
"""

from __future__ import annotations

import argparse

import orjson

from bench.peers.common import status_body

PREFIX = "/v1/models/"
STATUS = orjson.dumps(status_body())
JSON_HEADERS = [(b"content-type", b"application/json")]


def create_app(widths: dict[str, int]):
    cache: dict[tuple[int, int], bytes] = {}

    def answer(width: int, rows: int) -> bytes:
        body = cache.get((width, rows))
        if body is None:
            body = cache[(width, rows)] = orjson.dumps({"predictions": [[0.0] * width] * rows})
        return body

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path: str = scope["path"]
        status, payload = 404, b'{"error": "not found"}'
        if path.startswith(PREFIX):
            if scope["method"] == "POST" and path.endswith(":predict"):
                name = path[len(PREFIX) : -len(":predict")]
                try:
                    instances = orjson.loads(body)["instances"]
                    status, payload = 200, answer(widths.get(name, 1), len(instances))
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    status, payload = 400, b'{"error": "bad request"}'
            elif scope["method"] == "GET":
                status, payload = 200, STATUS
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": JSON_HEADERS + [(b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


def parse_models(specs: list[str], model_dirs: list[str]) -> dict[str, int]:
    widths = {}
    for spec in specs:
        name, _, width = spec.partition(":")
        widths[name] = int(width or 1)
    for model_dir in model_dirs:
        from bench.peers.common import model_name, read_signature

        widths[model_name(model_dir)] = max(1, read_signature(model_dir).output_width)
    return widths


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5300)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model", action="append", default=[], metavar="NAME:WIDTH")
    parser.add_argument("--model-dir", action="append", default=[])
    args = parser.parse_args()
    app = create_app(parse_models(args.model, args.model_dir))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
