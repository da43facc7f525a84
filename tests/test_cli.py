"""Flags, env vars and exit codes behave as tensorflow_model_server's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from pyserving.config.flags import FlagError, parse_flags
from pyserving.config.settings import docker_defaults
from tests.conftest import write_model_config
from tests.helpers.server import start_server
from tests.helpers.shared import TFSERVING_TESTDATA, requires_shared

BIN = Path(sys.executable).parent


def run_cli(
    *args: str, binary: str = "tensorflow_model_server", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / binary), *args], capture_output=True, text=True, timeout=timeout)


def test_flag_syntax_matches_tf_serving() -> None:
    settings, given = parse_flags(
        ["--port=9000", "--enable_batching", "--rest_api_enable_cors_support=false", "--model_name", "m", "--port=9001"]
    )
    assert settings.port == 9001  # the last occurrence wins
    assert settings.enable_batching is True and settings.rest_api_enable_cors_support is False
    assert settings.model_name == "m"
    assert given == {"port", "enable_batching", "rest_api_enable_cors_support", "model_name"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--enable_batching=1"], "Illegal value '1' specified for bool flag 'enable_batching'"),
        (["--port=80x"], "Illegal value '80x' specified for int flag 'port'"),
        (["--no_such_flag=1"], "unknown argument: --no_such_flag=1"),
        (["positional"], "unknown argument: positional"),
    ],
)
def test_bad_flags_are_errors(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError, match=message.replace("(", r"\(")):
        parse_flags(argv)


def test_docker_defaults_follow_the_image() -> None:
    assert docker_defaults({}) == {
        "port": 8500,
        "rest_api_port": 8501,
        "model_name": "model",
        "model_base_path": "/models/model",
    }
    assert docker_defaults({"MODEL_NAME": "lstm", "MODEL_BASE_PATH": "/srv"})["model_base_path"] == "/srv/lstm"


def test_version_flag() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("TensorFlow ModelServer: pyserving-")
    assert "TensorFlow Library: 2." in result.stdout


def test_unknown_flag_exits_255_with_usage() -> None:
    result = run_cli("--model_base_path=/x", "--bogus=1")
    assert result.returncode == 255
    assert "unknown argument: --bogus=1" in result.stderr and "usage" in result.stderr


def test_typo_names_the_closest_flag_on_the_last_line() -> None:
    result = run_cli("serve", "--model_nmae=x", binary="pyserving")
    assert result.returncode == 255
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 3, result.stderr  # the error must not scroll away under the usage text
    assert lines[-1].endswith("unknown argument: --model_nmae=x (did you mean --model_name?)")
    with pytest.raises(FlagError, match=r"did you mean --rest_api_port\?"):
        parse_flags(["--rest_api_prot=1"])


def test_serve_help_shows_serves_defaults() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_NAME", "MODEL_BASE_PATH")}
    result = subprocess.run(
        [str(BIN / "pyserving"), "serve", "--help"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: pyserving serve")
    for flag in (
        "--model_name=model\t",
        "--model_base_path=/models/model\t",
        "--rest_api_port=8501\t",
        "--port=8500\t",
        "--enable_batching=false\t",
    ):
        assert flag in result.stdout, flag


def test_binary_help_shows_the_binarys_defaults() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: tensorflow_model_server")
    assert "--model_name=default\t" in result.stdout and "--rest_api_port=0\t" in result.stdout


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["config"], ["gateway"], ["gateway", "keygen"], ["inspect"], ["warmup"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run_cli(*command, "--help", binary="pyserving")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: pyserving"), result.stdout


def test_unknown_command_suggests_the_closest() -> None:
    result = run_cli("serv", binary="pyserving")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("unknown command 'serv' (did you mean 'serve'?)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Both server_options.model_base_path and server_options.model_config_file are empty!"),
        (["--model_base_path=relative/path"], "Expected model default to have an absolute path or URI"),
        (
            ["--model_base_path=/x", "--batching_parameters_file=/b.txt"],
            "batching_parameters_file is set without setting server_options.enable_batching to true.",
        ),
        (["--model_config_file=/does/not/exist"], "Failed to read ModelServerConfig file"),
    ],
)
def test_startup_errors_exit_255(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 255, result.stderr
    assert "Failed to start server. Error: " in result.stderr
    assert message in result.stderr


@requires_shared
def test_bad_model_config_file_is_a_parse_error() -> None:
    result = run_cli(f"--model_config_file={TFSERVING_TESTDATA / 'bad_model_config.txt'}")
    assert result.returncode == 255
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in result.stderr


def test_config_without_platform_and_unknown_platform(tmp_path: Path) -> None:
    (tmp_path / "a.config").write_text('model_config_list { config { name: "m" base_path: "/m" } }')
    result = run_cli(f"--model_config_file={tmp_path / 'a.config'}")
    assert result.returncode == 255
    assert "Illegal setting neither ModelServerConfig::model_type (deprecated) nor" in result.stderr
    write_model_config(tmp_path / "b.config", [{"name": "m", "base_path": "/m", "platform": "pytorch"}])
    result = run_cli(f"--model_config_file={tmp_path / 'b.config'}")
    assert result.returncode == 255
    assert "Model m requests unsupported platform pytorch" in result.stderr
    write_model_config(tmp_path / "c.config", [{"name": "m", "base_path": "/m"}, {"name": "m", "base_path": "/n"}])
    result = run_cli(f"--model_config_file={tmp_path / 'c.config'}")
    assert "Illegal to list model m multiple times in config list" in result.stderr


@requires_shared
def test_tensorflow_model_server_serves_tf_servings_good_config(tmp_path: Path) -> None:
    text = (TFSERVING_TESTDATA / "good_model_config.txt").read_text()
    text = text.replace("${TEST_HALF_PLUS_TWO_DIR}", str(TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"))
    text = text.replace("${TEST_HALF_PLUS_THREE_DIR}", str(TFSERVING_TESTDATA / "saved_model_half_plus_three"))
    config = tmp_path / "good.config"
    config.write_text(text)
    server = start_server(
        [f"--model_config_file={config}"],
        tmp_path,
        grpc=False,
        wait_models=["half_plus_two", "half_plus_three"],
        command=[str(BIN / "tensorflow_model_server")],
    )
    try:
        for name, expected in (("half_plus_two", 3.0), ("half_plus_three", 4.0)):
            r = requests.post(f"{server.rest_url}/v1/models/{name}:predict", json={"instances": [2.0]}, timeout=30)
            assert r.json() == {"predictions": [expected]}
        assert "Exporting HTTP/REST API at:localhost:" in server.log()
    finally:
        assert server.stop() == 0
