"""``pyserving serve|inspect`` and ``tensorflow_model_server``: TF Serving's flags and exit codes.

Only this module calls ``sys.exit``. Exit status 255 for flag and startup
errors, as TF Serving's binary does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from pyserving import __version__
from pyserving.config.flags import FlagError, parse_flags, usage
from pyserving.config.settings import ServerSettings, docker_defaults, setting_fields
from pyserving.core.errors import ServingError

EXIT_FAILURE = 255
logger = logging.getLogger("pyserving")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s.%(msecs)03d %(levelname).1s %(name)s] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )


def _warn_ignored(settings: ServerSettings, given: set[str]) -> None:
    for name, spec in setting_fields().items():
        if name in given and spec.metadata.get("status") == "ignored" \
                and getattr(settings, name) != spec.default:
            logger.warning("Flag --%s is accepted for compatibility with TF Serving and ignored "
                           "by this version of pyserving", name)


def _print_version() -> None:
    try:
        from importlib.metadata import version

        tf_version = version("tensorflow")
    except Exception:  # noqa: BLE001
        tf_version = "unknown"
    print(f"TensorFlow ModelServer: pyserving-{__version__}\nTensorFlow Library: {tf_version}")


def run_server(argv: list[str], defaults: dict[str, Any] | None) -> int:
    if "--help" in argv or "-h" in argv:
        print(usage())
        return EXIT_FAILURE
    try:
        settings, given = parse_flags(argv, defaults)
    except FlagError as exc:
        print(f"{exc}\n{usage()}", file=sys.stderr)
        return EXIT_FAILURE
    if settings.version:
        _print_version()
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _configure_logging(settings.log_level)
    _warn_ignored(settings, given)
    if settings.model_config_file and ("model_name" in given or "model_base_path" in given):
        logger.info("--model_config_file is set: --model_name and --model_base_path are ignored")
    from pyserving.runner import serve

    try:
        asyncio.run(serve(settings))
    except ServingError as exc:
        print(f"Failed to start server. Error: {exc.code.name}: {exc.message}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 0
    return 0


def tensorflow_model_server(argv: list[str] | None = None) -> None:
    """The TF Serving binary's flags and defaults (no REST unless --rest_api_port)."""
    sys.exit(run_server(sys.argv[1:] if argv is None else argv, None))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: pyserving {serve,inspect} ...\n"
              "  serve    run the model server (TF Serving flags; Docker image defaults)\n"
              "  inspect  show a SavedModel's signatures, like saved_model_cli show --all")
        sys.exit(0 if args else 2)
    command, rest = args[0], args[1:]
    if command == "serve":
        sys.exit(run_server(rest, docker_defaults()))
    if command == "inspect":
        from pyserving.inspect import main as inspect_main

        sys.exit(inspect_main(rest))
    if command in ("--version", "version"):
        _print_version()
        sys.exit(0)
    print(f"pyserving: unknown command {command!r} (expected serve or inspect)", file=sys.stderr)
    sys.exit(2)
