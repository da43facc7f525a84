"""Version folders drive what is served: appear -> served, removed -> unloaded, broken -> old keeps serving."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import models
from tests.helpers.server import RunningServer, start_server


@pytest.fixture()
def base(tmp_path: Path, model_root: Path) -> Path:
    base = tmp_path / "m"
    models.copy_version(model_root / "half_plus_two" / "1", base / "1")
    (base / "not_a_version").mkdir()  # non-numeric entries are ignored
    return base


@pytest.fixture()
def server(base: Path, tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(
        [
            "--model_name=m",
            f"--model_base_path={base}",
            "--max_num_load_retries=0",
            "--file_system_poll_wait_seconds=1",
            "--file_system_settle_seconds=2",
        ],
        tmp_path,
        wait_models=["m"],
        grpc=False,
    )
    yield running
    running.stop()


def predict(server: RunningServer, value: float = 2.0) -> requests.Response:
    return requests.post(f"{server.rest_url}/v1/models/m:predict", json={"instances": [[value]]}, timeout=30)


def test_latest_version_served_after_new_version_dir_appears(
    server: RunningServer, base: Path, model_root: Path
) -> None:
    assert predict(server).json() == {"predictions": [[3.0]]}
    models.copy_version(model_root / "half_plus_three" / "1", base / "2")
    server.wait_available("m", 2)
    assert predict(server).json() == {"predictions": [[4.0]]}
    server.wait_for(lambda: server.version_states("m").get(1) == "END", 30, "v1 unloaded")
    assert server.version_states("m") == {2: "AVAILABLE", 1: "END"}
    # A request pinned to the old version now fails as TF Serving's does.
    r = requests.post(f"{server.rest_url}/v1/models/m/versions/1:predict", json={"instances": [[1.0]]}, timeout=30)
    assert r.status_code == 404


def test_removed_version_dir_is_unloaded_and_older_one_served_again(
    server: RunningServer, base: Path, model_root: Path
) -> None:
    models.copy_version(model_root / "half_plus_three" / "1", base / "2")
    server.wait_available("m", 2)
    shutil.rmtree(base / "2")
    server.wait_for(
        lambda: server.version_states("m").get(1) == "AVAILABLE" and server.version_states("m").get(2) == "END",
        30,
        "v2 unloaded, v1 back",
    )
    assert predict(server).json() == {"predictions": [[3.0]]}


def test_broken_newer_version_never_displaces_the_served_one(server: RunningServer, base: Path) -> None:
    models.write_broken_version(base / "7", "garbage")
    server.wait_for(lambda: server.version_states("m").get(7) == "END", 30, "v7 failed")
    status = {v["version"]: v for v in server.status("m")["model_version_status"]}
    assert status["7"]["status"]["error_code"] != "OK"
    assert status["7"]["status"]["error_message"]
    assert status["1"]["state"] == "AVAILABLE"
    assert predict(server).json() == {"predictions": [[3.0]]}


def test_all_versions_removed_unloads_the_model(server: RunningServer, base: Path) -> None:
    shutil.rmtree(base / "1")
    server.wait_for(lambda: server.version_states("m").get(1) == "END", 30, "v1 unloaded")
    assert predict(server).status_code == 404


def test_model_name_and_base_path_from_docker_env(tmp_path: Path, model_root: Path) -> None:
    models.copy_version(model_root / "half_plus_two" / "1", tmp_path / "models" / "lstm" / "5")
    running = start_server(
        [],
        tmp_path,
        wait_models=["lstm"],
        grpc=False,
        env={"MODEL_NAME": "lstm", "MODEL_BASE_PATH": str(tmp_path / "models")},
    )
    try:
        r = requests.post(f"{running.rest_url}/v1/models/lstm:predict", json={"instances": [[2.0]]}, timeout=30)
        assert r.json() == {"predictions": [[3.0]]}
    finally:
        running.stop()


def test_half_copied_version_is_not_loaded_until_complete(tmp_path: Path, model_root: Path) -> None:
    base = tmp_path / "m"
    models.copy_version(model_root / "half_plus_two" / "1", base / "1")
    running = start_server(["--model_name=m", f"--model_base_path={base}"], tmp_path, wait_models=["m"], grpc=False)
    try:
        source = model_root / "half_plus_three" / "1"
        target = base / "2"
        shutil.copytree(source / "variables", target / "variables")
        data = (source / "saved_model.pb").read_bytes()
        (target / "saved_model.pb").write_bytes(data[: len(data) // 2])  # a stalled copy
        # Asserting that nothing happens needs time to pass: three polls (1 s apart) see an
        # unchanged but unparseable folder, and none may load it.
        time.sleep(3.5)
        assert 2 not in running.version_states("m")
        (target / "saved_model.pb").write_bytes(data)
        running.wait_available("m", 2)
        assert predict(running).json() == {"predictions": [[4.0]]}
    finally:
        running.stop()
