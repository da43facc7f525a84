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
from pyserving.config.flags import FlagError, parse_flags, short_usage, usage
from pyserving.config.settings import ServerSettings, docker_defaults, setting_fields
from pyserving.core.errors import ServingError

EXIT_FAILURE = 255
logger = logging.getLogger("pyserving")


def _configure_logging(level: str, log_format: str = "text") -> None:
    from pyserving.cli.workers import worker_index
    from pyserving.log_output import configure_logging

    configure_logging(level, log_format, worker_index())


def _warn_ignored(settings: ServerSettings, given: set[str]) -> None:
    for name, spec in setting_fields().items():
        if name in given and spec.metadata.get("status") == "ignored" and getattr(settings, name) != spec.default:
            logger.warning(
                "Flag --%s is accepted for compatibility with TF Serving and ignored by this version of pyserving", name
            )


def _hint_first_run(base_path: str, given: bool) -> None:
    """``pyserving serve`` with no model folder: say in one line how to serve the bundled example."""
    if given or os.path.isdir(base_path):
        return
    example = os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        "examples",
        "models",
        "half_plus_two",
    )
    if os.path.isdir(example):
        how = f"pyserving serve --model_name=half_plus_two --model_base_path={example}"
    else:
        how = "pyserving serve --model_name=NAME --model_base_path=/abs/path/to/NAME"
    logger.warning(
        "No model folder at %s (the default $MODEL_BASE_PATH/$MODEL_NAME); to serve the bundled example: %s",
        base_path,
        how,
    )


def _print_version() -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        tf_version = version("tensorflow")
    except PackageNotFoundError:
        tf_version = "unknown"
    print(f"TensorFlow ModelServer: pyserving-{__version__}\nTensorFlow Library: {tf_version}")


def _loop_factory() -> Any:
    """uvloop when installed (REST dispatch measured ~30 % faster), else asyncio's loop."""
    if os.environ.get("PYSERVING_EVENT_LOOP", "uvloop") == "uvloop":
        try:
            import uvloop

            return uvloop.new_event_loop
        except ImportError:
            pass
    return None


SERVE_INTRO = (
    "Runs the model server with the defaults of TF Serving's Docker image: gRPC on 8500,\n"
    "REST on 8501, model $MODEL_NAME (default model) at $MODEL_BASE_PATH/$MODEL_NAME\n"
    "(default /models/model); the flags below override them. From the repository root:\n"
    "  pyserving serve --model_name=half_plus_two "
    "--model_base_path=$PWD/examples/models/half_plus_two"
)
BINARY_INTRO = "TF Serving's binary and its defaults (no REST unless --rest_api_port)."


def run_server(argv: list[str], defaults: dict[str, Any] | None, program: str = "tensorflow_model_server") -> int:
    if "--help" in argv or "-h" in argv or "--helpfull" in argv:
        print(usage(program, defaults, SERVE_INTRO if defaults is not None else BINARY_INTRO))
        return 0
    try:
        settings, given = parse_flags(argv, defaults)
    except FlagError as exc:
        print(f"{short_usage(program)}\n{program}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if settings.version:
        _print_version()
        return 0
    _configure_logging(settings.log_level, settings.log_format)
    _warn_ignored(settings, given)
    if settings.model_config_file and ("model_name" in given or "model_base_path" in given):
        logger.info("--model_config_file is set: --model_name and --model_base_path are ignored")
    if defaults is not None and not settings.model_config_file:
        _hint_first_run(settings.model_base_path, "model_base_path" in given)
    if settings.num_workers > 1:
        from pyserving.cli import workers

        if workers.worker_index() is None:
            try:
                held = workers.reserve_ports(settings)
            except ServingError as exc:
                print(f"Failed to start server. Error: INVALID_ARGUMENT: {exc.message}", file=sys.stderr)
                return EXIT_FAILURE
            try:
                return workers.supervise(argv, defaults is not None, settings.num_workers)
            finally:
                for sock in held:
                    sock.close()
    # TensorFlow is imported by its backend, when the first TensorFlow model is configured.
    from pyserving.runner import serve

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(settings))
    except ServingError as exc:
        print(f"Failed to start server. Error: {exc.code.name}: {exc.message}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 0
    return 0


def show_config(argv: list[str]) -> int:
    """``pyserving config [--server URL] [--json]``: the running server's model config."""
    import argparse
    import json
    import urllib.request

    from google.protobuf import json_format, text_format

    parser = argparse.ArgumentParser(
        prog="pyserving config",
        description="Print the model config a running server has in force (GET /v1/config), "
        "as ModelServerConfig text (what --model_config_file takes) or as JSON.",
    )
    parser.add_argument(
        "--server", default="http://localhost:8501", help="the server's REST address (default http://localhost:8501)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text proto")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    server, as_json = args.server, args.json
    try:
        with urllib.request.urlopen(server.rstrip("/") + "/v1/config", timeout=10) as response:
            payload = response.read().decode()
    except OSError as exc:
        print(f"pyserving config: cannot read {server}/v1/config: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(json.loads(payload), indent=2, ensure_ascii=False))
        return 0
    from pyserving.protos.tensorflow_serving.config import model_server_config_pb2

    message = json_format.Parse(payload, model_server_config_pb2.ModelServerConfig())
    print(text_format.MessageToString(message, as_utf8=True), end="")
    return 0


def tensorflow_model_server(argv: list[str] | None = None) -> None:
    """The TF Serving binary's flags and defaults (no REST unless --rest_api_port)."""
    sys.exit(run_server(sys.argv[1:] if argv is None else argv, None))


COMMANDS = ("serve", "config", "gateway", "inspect", "warmup")
MAIN_USAGE = "usage: pyserving {serve,config,gateway,inspect,warmup} ...  (`pyserving COMMAND --help`)"
MAIN_COMMANDS = (
    "\n  serve    run the model server (TF Serving flags; Docker image defaults)"
    "\n  config   print a running server's model config (--server=URL, --json)"
    "\n  gateway  run the pre/post-processing gateway (see docs/gateway.md)"
    "\n  inspect  show a SavedModel's signatures, like saved_model_cli show --all"
    "\n  warmup   write assets.extra/tf_serving_warmup_requests from example requests"
)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(MAIN_USAGE + MAIN_COMMANDS, file=sys.stdout if args else sys.stderr)
        sys.exit(0 if args else 2)
    command, rest = args[0], args[1:]
    if command == "serve":
        sys.exit(run_server(rest, docker_defaults(), "pyserving serve"))
    if command == "gateway":
        from pyserving.gateway.cli import main as gateway_main

        sys.exit(gateway_main(rest))
    if command == "config":
        sys.exit(show_config(rest))
    if command == "inspect":
        from pyserving.tools.inspect_model import main as inspect_main

        sys.exit(inspect_main(rest))
    if command == "warmup":
        from pyserving.tools.warmup_file import main as warmup_main

        sys.exit(warmup_main(rest))
    if command in ("--version", "version"):
        _print_version()
        sys.exit(0)
    import difflib

    close = difflib.get_close_matches(command, COMMANDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    print(f"{MAIN_USAGE}\npyserving: error: unknown command {command!r}{hint}", file=sys.stderr)
    sys.exit(2)
