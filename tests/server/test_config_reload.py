"""Multi-model config, version policies, labels and config reload by file polling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.server import RunningServer, start_server


@pytest.fixture(scope="module")
def versions_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1..v3 of a model whose output at x=0 is its own version number."""
    base = tmp_path_factory.mktemp("versions") / "m"
    for version in (1, 2, 3):
        models.export_half_plus_two(base / str(version), b=float(version))
    return base


def predict_version(server: RunningServer, route: str) -> float:
    r = requests.post(f"{server.rest_url}/v1/models/{route}:predict", json={"instances": [[0.0]]}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["predictions"][0][0]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("", {3}),
        ("latest { num_versions: 2 }", {2, 3}),
        ("all {}", {1, 2, 3}),
        ("specific { versions: 1 versions: 3 versions: 9 }", {1, 3}),
    ],
)
def test_version_policies(versions_base: Path, tmp_path: Path, policy: str, expected: set[int]) -> None:
    entry = {"name": "m", "base_path": versions_base}
    if policy:
        entry["policy"] = policy
    config = write_model_config(tmp_path / "m.config", [entry])
    server = start_server([f"--model_config_file={config}"], tmp_path, wait_models=["m"], grpc=False)
    try:
        for version in expected:
            server.wait_available("m", version)
        assert set(server.version_states("m")) == expected
        for version in expected:
            assert predict_version(server, f"m/versions/{version}") == version
        assert predict_version(server, "m") == max(expected)
    finally:
        server.stop()


@pytest.fixture()
def polling_server(versions_base: Path, model_root: Path, tmp_path: Path) -> Iterator[tuple[RunningServer, Path]]:
    config = write_model_config(
        tmp_path / "models.config",
        [
            {
                "name": "m",
                "base_path": versions_base,
                "policy": "specific { versions: 1 versions: 2 }",
                "labels": {"stable": 1},
            },
            {"name": "other", "base_path": model_root / "half_plus_two"},
        ],
    )
    server = start_server(
        [f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=1"],
        tmp_path,
        wait_models=["m", "other"],
        grpc=False,
    )
    server.wait_available("m", 1)
    server.wait_available("m", 2)
    yield server, config
    server.stop()


def test_reload_by_file_poll_adds_removes_and_changes_models(
    polling_server: tuple[RunningServer, Path], versions_base: Path, model_root: Path
) -> None:
    server, config = polling_server
    assert predict_version(server, "m/labels/stable") == 1
    write_model_config(
        config,
        [
            {
                "name": "m",
                "base_path": versions_base,
                "policy": "specific { versions: 2 versions: 3 }",
                "labels": {"stable": 2},
            },
            {"name": "three", "base_path": model_root / "half_plus_three"},
        ],
    )
    server.wait_available("three")
    server.wait_available("m", 3)
    server.wait_for(lambda: server.version_states("m").get(1) == "END", 30, "m v1 unloaded")
    assert predict_version(server, "m/labels/stable") == 2
    server.wait_for(
        lambda: (
            requests.post(
                f"{server.rest_url}/v1/models/other:predict", json={"instances": [[1.0]]}, timeout=10
            ).status_code
            == 404
        ),
        30,
        "model 'other' unloaded",
    )
    effective = requests.get(f"{server.rest_url}/v1/config", timeout=10).json()
    names = [c["name"] for c in effective["model_config_list"]["config"]]
    assert names == ["m", "three"]
    m = effective["model_config_list"]["config"][0]
    assert m["version_labels"] == {"stable": "2"}
    assert m["model_version_policy"] == {"specific": {"versions": ["2", "3"]}}


def test_label_on_unavailable_version_is_refused_on_reload(
    polling_server: tuple[RunningServer, Path], versions_base: Path, model_root: Path
) -> None:
    server, config = polling_server
    write_model_config(
        config,
        [
            {
                "name": "m",
                "base_path": versions_base,
                "policy": "specific { versions: 1 versions: 2 }",
                "labels": {"stable": 1, "canary": 3},
            },
            {"name": "other", "base_path": model_root / "half_plus_two"},
        ],
    )
    server.wait_for(
        lambda: (
            "Request to assign label to version 3 of model m, which is not currently "
            "available for inference" in server.log()
        ),
        30,
        "reload refused",
    )
    r = requests.post(f"{server.rest_url}/v1/models/m/labels/canary:predict", json={"instances": [[0.0]]}, timeout=10)
    assert r.status_code == 400 and "Unrecognized servable version label: canary" in r.json()["error"]
    assert predict_version(server, "m/labels/stable") == 1


def test_flag_allows_new_label_on_a_version_not_loaded_yet(versions_base: Path, tmp_path: Path) -> None:
    config = write_model_config(
        tmp_path / "models.config", [{"name": "m", "base_path": versions_base, "policy": "specific { versions: 1 }"}]
    )
    server = start_server(
        [
            f"--model_config_file={config}",
            "--model_config_file_poll_wait_seconds=1",
            "--allow_version_labels_for_unavailable_models",
        ],
        tmp_path,
        wait_models=["m"],
        grpc=False,
    )
    try:
        write_model_config(
            config,
            [
                {
                    "name": "m",
                    "base_path": versions_base,
                    "policy": "specific { versions: 1 versions: 3 }",
                    "labels": {"canary": 3},
                }
            ],
        )
        server.wait_available("m", 3)
        assert predict_version(server, "m/labels/canary") == 3
    finally:
        server.stop()


def test_bad_reload_keeps_the_old_config(polling_server: tuple[RunningServer, Path]) -> None:
    server, config = polling_server
    config.write_text("improperly formatted file")
    server.wait_for(
        lambda: "Error parsing text-format tensorflow.serving.ModelServerConfig" in server.log(),
        30,
        "parse error logged",
    )
    assert predict_version(server, "m") == 2
