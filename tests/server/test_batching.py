"""Server-side batching: same answers as without it, TF Serving's queue and size rules."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from pyserving.batching import BatchingOptions
from pyserving.config.batching_config import parse_batching_parameters, read_batching_parameters
from pyserving.core.errors import InvalidArgumentError
from pyserving.serving.inline_runs import WARMUP_RUNS
from tests.conftest import write_model_config
from tests.helpers.server import RunningServer, start_server
from tests.helpers.shared import TFSERVING_TESTDATA, requires_shared


@requires_shared
def test_tf_servings_example_batching_file_parses() -> None:
    options = read_batching_parameters(str(TFSERVING_TESTDATA / "batching_config.txt"))
    assert options == BatchingOptions(
        max_batch_size=128, batch_timeout_micros=0, max_enqueued_batches=1000000, num_batch_threads=8
    )


def test_batching_parameters_are_validated() -> None:
    with pytest.raises(InvalidArgumentError, match="Last entry in allowed_batch_sizes must match"):
        parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 4")
    with pytest.raises(InvalidArgumentError, match="Error parsing text-format"):
        parse_batching_parameters("max_batch_size: 8")


def configs(model_root: Path, tmp: Path) -> Path:
    return write_model_config(
        tmp / "models.config",
        [
            {"name": "hp2", "base_path": model_root / "half_plus_two"},
            {"name": "strings", "base_path": model_root / "string_model"},
            {"name": "dtypes", "base_path": model_root / "dtypes"},
        ],
    )


@pytest.fixture(scope="module")
def servers(
    model_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, RunningServer]]:
    tmp = tmp_path_factory.mktemp("batching")
    params = tmp / "batching.txt"
    params.write_text(
        "max_batch_size { value: 8 } batch_timeout_micros { value: 2000 } "
        "max_enqueued_batches { value: 1000 } num_batch_threads { value: 2 } "
        "allowed_batch_sizes: 2 allowed_batch_sizes: 4 allowed_batch_sizes: 8 "
        "enable_large_batch_splitting { value: true } pad_variable_length_inputs: true"
    )
    config = configs(model_root, tmp)
    names = ["hp2", "strings", "dtypes"]
    plain = start_server([f"--model_config_file={config}"], tmp, wait_models=names, grpc=False)
    batched = start_server(
        [f"--model_config_file={config}", "--enable_batching", f"--batching_parameters_file={params}"],
        tmp,
        wait_models=names,
        grpc=False,
    )
    yield plain, batched
    plain.stop()
    batched.stop()


def make_requests(seed: int = 7) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    words = ["很", "喜欢", "垃圾", "好", "差", "酒店"]
    cases: list[tuple[str, dict]] = []
    for _ in range(120):
        kind = rng.choice(["hp2", "hp2_columnar", "strings", "regress", "dtypes", "big"])
        if kind == "hp2":
            cases.append(("hp2:predict", {"instances": [[rng.uniform(-5, 5)] for _ in range(rng.randint(1, 5))]}))
        elif kind == "hp2_columnar":
            cases.append(("hp2:predict", {"inputs": [[rng.uniform(-5, 5)] for _ in range(rng.randint(1, 3))]}))
        elif kind == "big":  # larger than max_batch_size: split across batches
            cases.append(("hp2:predict", {"instances": [[float(i)] for i in range(rng.randint(9, 20))]}))
        elif kind == "strings":  # variable sequence lengths: padded
            rows = rng.randint(1, 3)
            length = rng.randint(1, 4)
            cases.append(
                (
                    "strings:predict",
                    {
                        "instances": [
                            {"words": [rng.choice(words) for _ in range(length)], "nwords": length} for _ in range(rows)
                        ]
                    },
                )
            )
        elif kind == "regress":
            cases.append(
                (
                    "hp2:regress",
                    {
                        "signature_name": "regress_x_to_y",
                        "examples": [{"x": rng.uniform(0, 9)} for _ in range(rng.randint(1, 4))],
                    },
                )
            )
        else:
            cases.append(("dtypes:predict", {"signature_name": "scalar", "inputs": rng.uniform(0, 3)}))
    return cases


def run_all(server: RunningServer, cases: list[tuple[str, dict]]) -> list[tuple[int, object]]:
    def call(case: tuple[str, dict]) -> tuple[int, object]:
        path, body = case
        r = requests.post(f"{server.rest_url}/v1/models/{path}", json=body, timeout=60)
        return r.status_code, r.json()

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(call, cases))


def test_batched_results_equal_unbatched_results(servers: tuple[RunningServer, RunningServer]) -> None:
    plain, batched = servers
    cases = make_requests()
    expected = run_all(plain, cases)
    got = run_all(batched, cases)
    assert all(status == 200 for status, _ in expected), expected
    assert got == expected


def test_batches_really_formed(servers: tuple[RunningServer, RunningServer]) -> None:
    _, batched = servers
    # Requests that arrive together share a batch: a concurrent burst still answers each one exactly.
    cases = [("hp2:predict", {"instances": [[float(i)]]}) for i in range(64)]
    results = run_all(batched, cases)
    assert [body["predictions"][0][0] for _, body in results] == [0.5 * i + 2 for i in range(64)]


@pytest.fixture(scope="module")
def small_queue_server(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("queue")
    params = tmp / "batching.txt"
    params.write_text(
        "max_batch_size { value: 2 } batch_timeout_micros { value: 3000000 } "
        "max_enqueued_batches { value: 1 } num_batch_threads { value: 1 }"
    )
    server = start_server(
        [
            "--model_name=hp2",
            f"--model_base_path={model_root / 'half_plus_two'}",
            "--enable_batching",
            f"--batching_parameters_file={params}",
            "--rest_api_timeout_in_ms=10000",
        ],
        tmp,
        wait_models=["hp2"],
        grpc=False,
    )
    yield server
    server.stop()


def test_full_queue_answers_unavailable_and_oversized_task_is_refused(small_queue_server: RunningServer) -> None:
    url = f"{small_queue_server.rest_url}/v1/models/hp2:predict"
    r = requests.post(url, json={"instances": [[1.0], [2.0], [3.0]]}, timeout=30)
    assert r.status_code == 400
    assert r.json()["error"] == "Task size 3 is larger than maximum input batch size 2"
    first: list[requests.Response] = []
    waiter = threading.Thread(target=lambda: first.append(requests.post(url, json={"instances": [[1.0]]}, timeout=30)))
    waiter.start()
    # The 1-row request waits up to 3 s in the only allowed batch; a 2-row request then needs a
    # second batch and is refused. Until the first is enqueued, 2-row requests succeed.
    statuses = []
    for _ in range(200):
        r = requests.post(url, json={"instances": [[1.0], [2.0]]}, timeout=30)
        statuses.append(r.status_code)
        if r.status_code == 503:
            assert "The batch scheduling queue to which this task was submitted is full" in r.json()["error"]
            break
    waiter.join()
    assert statuses[-1] == 503
    assert first[0].status_code == 200 and first[0].json() == {"predictions": [[2.5]]}


def test_request_past_its_deadline_is_dropped_before_running(model_root: Path, tmp_path: Path) -> None:
    params = tmp_path / "batching.txt"
    params.write_text(
        "max_batch_size { value: 64 } batch_timeout_micros { value: 1000000 } num_batch_threads { value: 1 }"
    )
    server = start_server(
        [
            "--model_name=hp2",
            f"--model_base_path={model_root / 'half_plus_two'}",
            "--enable_batching",
            f"--batching_parameters_file={params}",
            "--rest_api_timeout_in_ms=200",
        ],
        tmp_path,
        wait_models=["hp2"],
        grpc=False,
    )
    try:
        r = requests.post(f"{server.rest_url}/v1/models/hp2:predict", json={"instances": [[1.0]]}, timeout=30)
        assert r.status_code == 504
        assert "Deadline exceeded" in r.json()["error"]
    finally:
        server.stop()


def test_a_lone_request_runs_when_its_batch_times_out(model_root: Path, tmp_path: Path) -> None:
    params = tmp_path / "batching.txt"
    params.write_text(
        "max_batch_size { value: 128 } batch_timeout_micros { value: 1000 } "
        "max_enqueued_batches { value: 1000 } num_batch_threads { value: 2 }"
    )
    server = start_server(
        [
            "--model_name=hp2",
            f"--model_base_path={model_root / 'half_plus_two'}",
            "--enable_batching",
            f"--batching_parameters_file={params}",
        ],
        tmp_path,
        wait_models=["hp2"],
        grpc=False,
    )
    try:
        with requests.Session() as session:
            for i in range(50):  # one at a time: each must run on its own timeout
                r = session.post(
                    f"{server.rest_url}/v1/models/hp2:predict", json={"instances": [[float(i)]]}, timeout=5
                )
                assert r.json() == {"predictions": [[0.5 * i + 2]]}
    finally:
        server.stop()


@pytest.mark.parametrize("limit_micros", [5000, 0])
def test_batches_timed_as_short_run_on_the_loop_with_the_same_answers(
    model_root: Path, tmp_path: Path, limit_micros: int
) -> None:
    """A kind timed under --inline_run_max_micros runs its batches on the event loop (no thread hops)."""
    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 8 } batch_timeout_micros { value: 1000 } num_batch_threads { value: 2 }")
    server = start_server(
        [
            "--model_name=hp2",
            f"--model_base_path={model_root / 'half_plus_two'}",
            "--enable_batching",
            f"--batching_parameters_file={params}",
            f"--inline_run_max_micros={limit_micros}",
        ],
        tmp_path,
        wait_models=["hp2"],
        grpc=False,
    )
    try:
        for i in range(WARMUP_RUNS + 8):  # one at a time: one-row batches, past the timed runs
            body = requests.post(
                f"{server.rest_url}/v1/models/hp2:predict", json={"instances": [[float(i)]]}, timeout=10
            )
            assert body.json() == {"predictions": [[0.5 * i + 2]]}
        # A burst after the switch: batches of several requests, each answered exactly.
        results = run_all(server, [("hp2:predict", {"instances": [[float(i)], [float(-i)]]}) for i in range(32)])
        assert [body["predictions"] for _, body in results] == [[[0.5 * i + 2], [-0.5 * i + 2]] for i in range(32)]
    finally:
        server.stop()
    assert ("Model hp2 version 1 signature serving_default runs in" in server.log()) == (limit_micros > 0)
