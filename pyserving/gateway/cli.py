"""``pyserving gateway``: run the gateway, check a config, make API keys.

    pyserving gateway --config gateway.toml [--host H] [--port P] [--workers N]
    pyserving gateway check --config gateway.toml
    pyserving gateway keygen --id NAME [--routes /a,/b] [--rate-per-s R] [--burst B] [--scheme S]
    pyserving gateway hash-key [--scheme S]        (reads the key from stdin)

Serving uses uvicorn (uvloop + httptools when installed). With ``--workers N``
uvicorn forks N processes that each build the app from
``$PYSERVING_GATEWAY_CONFIG`` (the same factory gunicorn uses). Exit status 2
for usage and config errors, naming the bad key.
"""

from __future__ import annotations

import argparse
import os
import sys

from pyserving.gateway.config import ConfigError, load_config
from pyserving.gateway.keys import SCHEMES, entry_toml, generate_key, hash_key, key_id_of

EXIT_USAGE = 2
SUBCOMMANDS = ("check", "keygen", "hash-key")


def main(argv: list[str]) -> int:
    """Entry point for ``pyserving gateway ...``; ``argv`` excludes the word ``gateway``."""
    if argv and argv[0] in SUBCOMMANDS:
        command, rest = argv[0], argv[1:]
        return {"check": _check, "keygen": _keygen, "hash-key": _hash_key}[command](rest)
    return _serve(argv)


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyserving gateway",
        description="Run the pre/post-processing gateway in front of model servers. "
        f"Other commands: {', '.join(SUBCOMMANDS)} (see `pyserving gateway COMMAND -h`).",
    )
    parser.add_argument("--config", required=True, help="gateway TOML config file")
    parser.add_argument("--host", help="address to bind (default: [gateway] host, else 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default: [gateway] port, else 8080)")
    parser.add_argument("--workers", type=int, help="worker processes (default: [gateway] workers, else 1)")
    parser.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"))
    parser.add_argument(
        "--forwarded-allow-ips", default=None, help="proxies trusted for X-Forwarded-For (default 127.0.0.1)"
    )
    return parser


def _serve(argv: list[str]) -> int:
    try:
        args = _serve_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    path = os.path.abspath(args.config)
    from pyserving.gateway.app import CONFIG_ENV, LOG_LEVEL_ENV, configure_logging, create_app

    try:
        config = load_config(path)
        level = args.log_level or config.server.log_level
        configure_logging(level)
        app = create_app(config)  # imports transforms and reads the keys file: fail before binding
    except ConfigError as exc:
        print(f"pyserving gateway: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    import uvicorn

    workers = args.workers or config.server.workers
    os.environ[CONFIG_ENV] = path
    os.environ[LOG_LEVEL_ENV] = level
    target: object = app
    if workers > 1:
        target = "pyserving.gateway.app:create_app_from_env"
    uvicorn.run(
        target,  # type: ignore[arg-type]
        factory=workers > 1,
        host=args.host or config.server.host,
        port=config.server.port if args.port is None else args.port,
        workers=workers,
        log_config=None,
        log_level=level,
        access_log=False,  # the gateway writes its own access log, with latency and request id
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        server_header=False,
    )
    return 0


def _check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pyserving gateway check",
        description="Validate a gateway config, its keys file and transforms, then exit.",
    )
    parser.add_argument("--config", required=True)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    from pyserving.gateway.app import create_app

    try:
        config = load_config(args.config)
        create_app(config)
    except ConfigError as exc:
        print(f"pyserving gateway: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"{args.config}: OK ({len(config.routes)} routes, {len(config.upstreams)} upstreams, "
        f"auth {'on' if config.auth.enabled else 'none'})"
    )
    return 0


def _keygen(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pyserving gateway keygen",
        description="Create an API key. The key goes to stderr (give it to the caller; it is "
        "stored nowhere); the [[keys]] entry with its hash goes to stdout, so "
        "`keygen ... >> keys.toml` stores only the hash.",
    )
    parser.add_argument("--id", required=True, help="key name, e.g. the calling team or app")
    parser.add_argument("--routes", default="*", help="comma-separated route paths, or * (default)")
    parser.add_argument("--rate-per-s", type=float, help="requests per second (default: config's)")
    parser.add_argument("--burst", type=float, help="bucket size (default: config's)")
    parser.add_argument("--scheme", choices=SCHEMES, default="sha256")
    try:
        args = parser.parse_args(argv)
        key = generate_key(args.id)
    except SystemExit as exc:
        return int(exc.code or 0)
    except ValueError as exc:
        print(f"pyserving gateway keygen: {exc}", file=sys.stderr)
        return EXIT_USAGE
    routes = [r.strip() for r in args.routes.split(",") if r.strip()]
    print(
        f"API key for {args.id!r} (shown once; the caller sends 'Authorization: Bearer <key>'):\n{key}", file=sys.stderr
    )
    print(entry_toml(args.id, hash_key(key, args.scheme), routes, args.rate_per_s, args.burst), end="")
    return 0


def _hash_key(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pyserving gateway hash-key",
        description="Hash an existing key (read from stdin) for the keys file. The key must look like <id>.<secret>.",
    )
    parser.add_argument("--scheme", choices=SCHEMES, default="sha256")
    parser.add_argument("--routes", default="*")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    key = sys.stdin.readline().strip()
    key_id = key_id_of(key)
    if key_id is None:
        print("pyserving gateway hash-key: expected a key like <id>.<secret> on stdin", file=sys.stderr)
        return EXIT_USAGE
    routes = [r.strip() for r in args.routes.split(",") if r.strip()]
    print(entry_toml(key_id, hash_key(key, args.scheme), routes, None, None), end="")
    return 0


def console() -> None:
    """Console-script entry (``pyserving-gateway ...``)."""
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":  # pragma: no cover
    console()
