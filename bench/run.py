"""The benchmark suite: pyserving against reference peers on loopback, one table, the targets.

    python -m bench.run [--quick] [--only NAME ...] [--oip] [--json results.json]
                        [--generator auto|wrk|python] [--duration S] [--warmup S]

(from the repository root: ``bench`` is a package and imports ``tests.helpers`` as one).

Exports the models to a temporary folder (``half_plus_two``, the tiny one, ``mlp``, a float32
MLP 512->2048->2048->512->10, and ``onnx_mlp``, that MLP as ONNX), then starts one server at a time on free 127.0.0.1
ports, waits until it is ready, checks one answer, drives every scenario it takes part in
with the same load, and stops it (always, also on errors and Ctrl-C):

* ``pyserving``            ``python -m pyserving serve`` (both models, ``--model_config_file``)
* ``pyserving-batching``   the same with ``--enable_batching --batching_parameters_file``
* ``pyserving-workers``      the same without batching, ``--num_workers`` = CPU cores (tiny scenarios)
* ``bare-uvicorn``         ceiling: uvicorn + httptools + uvloop, parses the JSON, no model
* ``bare-grpc``            ceiling: grpc.aio PredictionService, decodes the inputs, no model
* ``flask-gevent``         the seed tutorial's Flask + gevent server calling TF in-process
* ``gunicorn-flask``       the same Flask app under gunicorn, 4 sync workers
* ``in-process``           limit: the signature called directly in one process, per batch size
                           (the ONNX MLP: onnxruntime's own session, ``peers/inprocess_onnx.py``)
* ``triton``               NVIDIA Triton 2.51 (C++ front end, Python backend), ``../shared/bench/triton``:
                           half_plus_two over OIP v2 (REST JSON and binary, gRPC); skipped when absent
* ``triton-batching``      the same with ``dynamic_batching { max_queue_delay_microseconds: 1000 }``

REST load comes from wrk (``-t1``) when it is installed, else from the Python generator in
``bench/load.py``; gRPC load from a grpc.aio client in its own process. Prints one table
(req/s, rows/s, p50/p99) and the target ratios with PASS/MISS; ``--json`` writes all of it.
``--only`` keeps the scenarios or servers named (shell-style patterns), e.g.
``--only tiny-rest-64c`` or ``--only pyserving bare-uvicorn``; ``SCENARIO@SERVER`` keeps one pair
(``--only 'tiny-rest-*@pyserving*'``). ``--oip`` runs the OIP v2 scenarios (pyserving against Triton,
and the OIP MLP rows against the in-process limit) plus TF Serving's tiny REST rows on pyserving.
Each row also says how many processes the server ran and their summed RSS after the load.

Timing targets live here and nowhere in the test suite. The numbers depend on the machine
and on what else runs on it; the ratios were set for a 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import importlib.util
import json
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # `python bench/run.py`: bench and tests are packages of the repository root
    sys.exit("run the benchmark suite from the repository root as a module: python -m bench.run ...")

from bench import load, oip
from tests.helpers import triton

REPO = Path(__file__).resolve().parents[1]


# One batch thread more than cores: with one more batch in flight than cores, TensorFlow's threads
# have work while a run starts, copies its feeds or hands back its outputs. Measured on 2 cores, MLP
# 32 rows x 16 connections: 3 threads beat 2 in six paired runs out of six (+4 to +15 %, mean +10 %);
# 4 or 6 threads did no better than 3.
BATCH_THREADS = (os.cpu_count() or 1) + 1
# pyserving-workers: one serving process per core (one event loop holds one core on a tiny model).
WORKERS = os.cpu_count() or 1
BATCHING_PARAMETERS = f"""\
max_batch_size {{ value: 128 }}
batch_timeout_micros {{ value: 1000 }}
max_enqueued_batches {{ value: 1000 }}
num_batch_threads {{ value: {BATCH_THREADS} }}
"""


@dataclass(frozen=True)
class Model:
    key: str  # "tiny" / "mlp" / "onnx-mlp": how scenarios name it
    name: str  # the served model name (its base folder's name)
    in_width: int
    out_width: int
    platform: str = "tensorflow"


MODELS = {
    "tiny": Model("tiny", "half_plus_two", 1, 1),
    "mlp": Model("mlp", "mlp", 512, 10),
    "onnx-mlp": Model("onnx-mlp", "onnx_mlp", 512, 10, "onnx"),
    "tinypy": Model("tinypy", "half_plus_two_py", 1, 1, "python"),
}


@dataclass(frozen=True)
class Scenario:
    name: str
    model: str
    protocol: str  # "rest" / "grpc" (TF Serving's APIs) / "oip-json" / "oip-bin" / "oip-grpc" (OIP v2)
    connections: int
    rows: int
    servers: tuple[str, ...]
    quick_servers: tuple[str, ...] | None = None  # None: the same as ``servers``
    what: str = ""


SCENARIOS = (
    Scenario(
        "tiny-rest-1c",
        "tiny",
        "rest",
        1,
        1,
        ("pyserving", "pyserving-batching", "pyserving-workers", "bare-uvicorn", "flask-gevent"),
        ("pyserving", "pyserving-batching", "pyserving-workers"),
        what="latency at one connection",
    ),
    Scenario(
        "tiny-rest-64c",
        "tiny",
        "rest",
        64,
        1,
        ("pyserving", "pyserving-batching", "pyserving-workers", "bare-uvicorn", "flask-gevent", "gunicorn-flask"),
        what="HTTP/JSON overhead at many connections",
    ),
    Scenario(
        "tiny-grpc-16c",
        "tiny",
        "grpc",
        16,
        1,
        ("pyserving", "pyserving-batching", "pyserving-workers", "bare-grpc"),
        what="gRPC overhead",
    ),
    Scenario(
        "tinypy-rest-64c",
        "tinypy",
        "rest",
        64,
        1,
        ("pyserving",),
        what="a Python model (numpy y = 0.5x + 2) against the SavedModel in tiny-rest-64c",
    ),
    Scenario(
        "mlp-rest-32x16c",
        "mlp",
        "rest",
        16,
        32,
        ("pyserving", "pyserving-batching", "bare-uvicorn", "flask-gevent", "gunicorn-flask"),
        ("pyserving", "pyserving-batching", "bare-uvicorn"),
        what="compute-bound, batched requests",
    ),
    Scenario(
        "mlp-rest-1x64c",
        "mlp",
        "rest",
        64,
        1,
        ("pyserving", "pyserving-batching", "flask-gevent", "gunicorn-flask"),
        what="compute-bound, one row per request: server-side batching",
    ),
    *(
        Scenario(
            f"tiny-{protocol}-{conns}c",
            "tiny",
            protocol,
            conns,
            1,
            ("pyserving", "pyserving-batching", "pyserving-workers", "triton", "triton-batching"),
            what=f"OIP v2 {what}: pyserving against Triton",
        )
        for protocol, what in (("oip-json", "REST, JSON tensors"), ("oip-bin", "REST, binary tensors"))
        for conns in (1, 64)
    ),
    Scenario(
        "tiny-oip-grpc-16c",
        "tiny",
        "oip-grpc",
        16,
        1,
        ("pyserving", "pyserving-batching", "pyserving-workers", "triton", "triton-batching"),
        what="OIP v2 gRPC (raw contents): pyserving against Triton",
    ),
    Scenario(
        "mlp-oip-bin-32x16c",
        "mlp",
        "oip-bin",
        16,
        32,
        ("pyserving", "pyserving-batching"),
        what="compute-bound, OIP REST binary tensors (no JSON parse)",
    ),
    Scenario(
        "mlp-oip-grpc-32x16c",
        "mlp",
        "oip-grpc",
        16,
        32,
        ("pyserving", "pyserving-batching"),
        what="compute-bound, OIP gRPC raw contents",
    ),
    Scenario(
        "onnx-mlp-rest-32x16c",
        "onnx-mlp",
        "rest",
        16,
        32,
        ("pyserving-batching",),
        what="the MLP as ONNX (onnxruntime), batched requests",
    ),
)

#: Python modules each server needs; a server whose modules are missing is skipped, not failed.
REQUIRES = {
    "bare-uvicorn": ("uvicorn", "httptools", "uvloop", "orjson"),
    "bare-grpc": ("grpc", "tensorflow_serving"),
    "flask-gevent": ("flask", "gevent"),
    "gunicorn-flask": ("flask", "gunicorn"),
}

# The headline targets' server and scenarios: the in-process limit of the scenario's model at its best
# batch size is measured again right before and right after each (PAIRED_LIMIT), and the ratio taken
# with that.
PAIRED_SERVER, PAIRED_SCENARIO = "pyserving-batching", "mlp-rest-32x16c"
PAIRED_SCENARIOS = (PAIRED_SCENARIO, "onnx-mlp-rest-32x16c", "mlp-oip-bin-32x16c", "mlp-oip-grpc-32x16c")
PAIRED_LIMIT = "in-process best, paired"


def paired_limit(scenario: str) -> str:
    """The paired limit row's server name: one per model, or per scenario when a model has several."""
    if scenario in (PAIRED_SCENARIO, "onnx-mlp-rest-32x16c"):
        return PAIRED_LIMIT
    return f"{PAIRED_LIMIT} ({scenario.split('-', 1)[1].rsplit('-', 1)[0]})"  # mlp-oip-bin-32x16c: (oip-bin)


PROTOCOL_LABELS = {"rest": "REST", "grpc": "gRPC", "oip-json": "OIP JSON", "oip-bin": "OIP bin", "oip-grpc": "OIP gRPC"}

SERVER_ORDER = (
    "pyserving",
    "pyserving-batching",
    "pyserving-workers",
    "bare-uvicorn",
    "bare-grpc",
    "flask-gevent",
    "gunicorn-flask",
    "triton",
    "triton-batching",
)
TRITON_SERVERS = ("triton", "triton-batching")


# --------------------------------------------------------------------------- results


@dataclass
class Row:
    scenario: str
    server: str
    protocol: str
    connections: int
    rows: int
    req_s: float = float("nan")
    rows_s: float = float("nan")
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    requests: int = 0
    errors: int = 0
    generator: str = ""
    note: str = ""
    error: str = ""
    processes: int = 0  # the server's processes (its process group) after the load
    rss_mib: float = float("nan")  # their summed resident memory

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Target:
    label: str
    scenario: str
    server: str
    metric: str  # "rows_s" / "req_s" / "p50_ms"
    op: str  # ">=" / "<="
    threshold: float
    ref_scenario: str | None = None  # None: compare the metric itself with the threshold
    ref_server: str | None = None
    info: bool = False  # printed with its ratio, no PASS/MISS


def _targets() -> list[Target]:
    out: list[Target] = []
    on, off = "pyserving-batching", "pyserving"
    out.append(
        Target(
            "MLP 32 rows/req, REST 16c, batching on: rows/s vs in-process best batch, measured around it",
            "mlp-rest-32x16c",
            on,
            "rows_s",
            ">=",
            0.90,
            "mlp-inprocess",
            PAIRED_LIMIT,
        )
    )
    for server in (on, off):
        tag = "batching on" if server == on else "batching off"
        out.append(
            Target(
                f"MLP 32 rows/req, REST 16c, {tag} (info): rows/s vs in-process best batch, sweep",
                "mlp-rest-32x16c",
                server,
                "rows_s",
                ">=",
                0.90,
                "mlp-inprocess",
                "in-process best",
                info=True,
            )
        )
    for server, info in ((on, False), (off, True)):
        tag = "batching on" if server == on else "batching off (info)"
        out.append(
            Target(
                f"MLP 1 row/req, REST 64c, {tag}: rows/s vs flask+gevent",
                "mlp-rest-1x64c",
                server,
                "rows_s",
                ">=",
                8.0,
                "mlp-rest-1x64c",
                "flask-gevent",
                info,
            )
        )
        out.append(
            Target(
                f"MLP 1 row/req, REST 64c, {tag}: rows/s vs gunicorn+flask (4 workers)",
                "mlp-rest-1x64c",
                server,
                "rows_s",
                ">=",
                6.0,
                "mlp-rest-1x64c",
                "gunicorn-flask",
                info,
            )
        )
    out.append(
        Target(
            "ONNX MLP 32 rows/req, REST 16c, batching on: rows/s vs in-process onnxruntime best "
            "batch, measured around it",
            "onnx-mlp-rest-32x16c",
            on,
            "rows_s",
            ">=",
            0.90,
            "onnx-mlp-inprocess",
            PAIRED_LIMIT,
        )
    )
    # The tiny model's targets are judged on its recommended setup, one serving process per core
    # without batching (the worker-process option); one process, batching off and on, as info.
    for server, tag, info in (
        ("pyserving-workers", f"{WORKERS} workers", False),
        (off, "1 process, batching off (info)", True),
        (on, "1 process, batching on (info)", True),
    ):
        out.append(
            Target(
                f"tiny, REST 64c, {tag}: req/s vs bare uvicorn (no model)",
                "tiny-rest-64c",
                server,
                "req_s",
                ">=",
                0.30,
                "tiny-rest-64c",
                "bare-uvicorn",
                info,
            )
        )
        out.append(
            Target(
                f"tiny, REST 64c, {tag}: req/s vs flask+gevent",
                "tiny-rest-64c",
                server,
                "req_s",
                ">=",
                8.0,
                "tiny-rest-64c",
                "flask-gevent",
                info,
            )
        )
        out.append(
            Target(
                f"tiny, gRPC 16c, {tag}: req/s vs bare grpc.aio (no model)",
                "tiny-grpc-16c",
                server,
                "req_s",
                ">=",
                0.60,
                "tiny-grpc-16c",
                "bare-grpc",
                info,
            )
        )
        out.append(
            Target(f"tiny, REST 1c, {tag}: p50 latency (ms)", "tiny-rest-1c", server, "p50_ms", "<=", 0.35, info=info)
        )
    out.append(
        Target(
            "Python model (numpy y = 0.5x + 2), REST 64c: req/s vs the SavedModel half_plus_two",
            "tinypy-rest-64c",
            off,
            "req_s",
            ">=",
            0.80,
            "tiny-rest-64c",
            off,
        )
    )
    out += _oip_targets()
    return out


def _oip_targets() -> list[Target]:
    """#15: pyserving against Triton on the tiny model, the OIP MLP rows against the in-process limit."""
    on, off, workers = "pyserving-batching", "pyserving", "pyserving-workers"
    out: list[Target] = []
    # (our scenario, Triton's scenario): OIP against OIP, and TF Serving's REST API against Triton's OIP JSON
    pairs = [(f"tiny-{p}-{c}c", f"tiny-{p}-{c}c") for p in ("oip-json", "oip-bin") for c in (1, 64)]
    pairs += [("tiny-oip-grpc-16c", "tiny-oip-grpc-16c"), ("tiny-rest-1c", "tiny-oip-json-1c")]
    pairs += [("tiny-rest-64c", "tiny-oip-json-64c")]
    labels = {"rest": "TF Serving REST", "oip-json": "OIP REST JSON", "oip-bin": "OIP REST binary"}
    labels["oip-grpc"] = "OIP gRPC"
    for ours, theirs in pairs:
        protocol, _, conns = ours.removeprefix("tiny-").rpartition("-")
        what = f"{labels[protocol]} {conns}" + (" vs Triton's OIP REST JSON" if ours != theirs else " vs Triton")
        # batching off: one serving process per core is judged (workers allowed); one process is info
        for server, ref, tag, info in (
            (workers, "triton", f"batching off, {WORKERS} workers", False),
            (off, "triton", "batching off, 1 process (info)", True),
            (on, "triton-batching", "batching on, both", False),
        ):
            out.append(Target(f"tiny, {what}, {tag}: req/s", ours, server, "req_s", ">=", 1.0, theirs, ref, info))
            out.append(Target(f"tiny, {what}, {tag}: p99", ours, server, "p99_ms", "<=", 1.0, theirs, ref, info))
    for scenario, what in (("mlp-oip-bin-32x16c", "OIP REST binary"), ("mlp-oip-grpc-32x16c", "OIP gRPC raw")):
        out.append(
            Target(
                f"MLP 32 rows/req, {what} 16c, batching on: rows/s vs in-process best batch, measured around it",
                scenario,
                on,
                "rows_s",
                ">=",
                0.95,
                "mlp-inprocess",
                paired_limit(scenario),
            )
        )
        out.append(
            Target(
                f"MLP 32 rows/req, {what} 16c, batching off (info): rows/s vs in-process best batch, sweep",
                scenario,
                off,
                "rows_s",
                ">=",
                0.95,
                "mlp-inprocess",
                "in-process best",
                info=True,
            )
        )
    for server, tag, info in (
        (off, "1 process", False),
        (on, "batching on (info)", True),
        (workers, "workers (info)", True),
    ):
        out.append(
            Target(
                f"tiny, OIP REST JSON 64c vs TF Serving REST 64c, {tag}: req/s",
                "tiny-oip-json-64c",
                server,
                "req_s",
                ">=",
                0.90,
                "tiny-rest-64c",
                server,
                info,
            )
        )
    return out


MAX_ERROR_SHARE = 0.01  # a row with more failed requests than this is not used for a target


def _valid(row: Row) -> bool:
    return not row.error and row.requests > 0 and row.errors <= MAX_ERROR_SHARE * (row.requests + row.errors)


def _stalled(row: Row) -> bool:
    """So few requests that the server must have stalled; its percentiles mean little."""
    return not row.error and row.requests < max(20, 2 * row.connections)


def _verdict(measured: float, op: str, threshold: float, info: bool, stalled: bool) -> str:
    """PASS / MISS / info; a stalled server misses, whatever its few samples say."""
    met = measured >= threshold if op == ">=" else measured <= threshold
    verdict = "info" if info else ("PASS" if met and not stalled else "MISS")
    return verdict + (" (stalled)" if stalled else "")


def evaluate(targets: list[Target], rows: list[Row]) -> list[dict]:
    by_key = {(r.scenario, r.server): r for r in rows if _valid(r)}
    out = []
    for t in targets:
        row = by_key.get((t.scenario, t.server))
        value = getattr(row, t.metric) if row else None
        ref = None
        if t.ref_scenario is not None:
            ref_row = by_key.get((t.ref_scenario, t.ref_server))
            ref = getattr(ref_row, t.metric) if ref_row else None
        if value is None or (t.ref_scenario is not None and not ref):
            measured, verdict = None, "n/a"
        else:
            measured = value / ref if ref is not None else value
            verdict = _verdict(measured, t.op, t.threshold, t.info, _stalled(row))
        out.append(
            {
                "target": t.label,
                "scenario": t.scenario,
                "server": t.server,
                "reference": t.ref_server,
                "measured": measured,
                "op": t.op,
                "threshold": t.threshold,
                "result": verdict,
                "info": t.info,
            }
        )
    return out


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server subprocess in its own process group (gunicorn's workers go down with it)."""

    def __init__(
        self,
        key: str,
        argv: list[str],
        log_path: Path,
        rest_port: int | None,
        grpc_port: int | None,
        models: list[str],
        workers: int = 1,
        ready_path: str = "/v1/models/{name}",
    ) -> None:
        self.key, self.argv, self.log_path = key, argv, log_path
        self.rest_port, self.grpc_port, self.models = rest_port, grpc_port, models
        self.workers = workers  # pyserving --num_workers: ready once each one listens
        # GET per model; a TF Serving status must say AVAILABLE, an OIP ready route answer 200
        self.ready_path = ready_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
            )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.key} exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._ready():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.key} not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        # A worker listens once its models are loaded and logs "w<N>] Exporting HTTP/REST API".
        if self.workers > 1 and self.log_tail(10**6).count("] Exporting HTTP/REST API") < self.workers:
            return False
        if self.rest_port is not None:
            for name in self.models:
                try:
                    path = self.ready_path.format(name=name)
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}{path}", timeout=2) as response:
                        if path.startswith("/v1/") and b'"AVAILABLE"' not in response.read():
                            return False
                except (OSError, urllib.error.URLError):
                    return False
            return True
        try:
            with socket.create_connection(("127.0.0.1", self.grpc_port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)


def make_server(key: str, model_dirs: dict[str, Path], work: Path) -> Server:
    py = sys.executable
    rest, grpc_port = free_port(), free_port()
    log = work / f"{key}.log"
    names = [MODELS[k].name for k in model_dirs]
    dirs = [str(d) for d in model_dirs.values()]
    if key in ("pyserving", "pyserving-batching", "pyserving-workers"):
        config = work / "models.config"
        config.write_text(
            "model_config_list {\n"
            + "".join(
                f'  config {{ name: "{MODELS[k].name}" base_path: "{d}" model_platform: "{MODELS[k].platform}" }}\n'
                for k, d in model_dirs.items()
            )
            + "}\n"
        )
        argv = [
            py,
            "-m",
            "pyserving",
            "serve",
            f"--model_config_file={config}",
            f"--rest_api_port={rest}",
            f"--port={grpc_port}",
            "--host=127.0.0.1",
        ]
        if key == "pyserving-batching":
            params = work / f"{key}-batching_parameters.txt"
            params.write_text(BATCHING_PARAMETERS)
            argv += ["--enable_batching", f"--batching_parameters_file={params}"]
        if key == "pyserving-workers":
            argv.append(f"--num_workers={WORKERS}")
            return Server(key, argv, log, rest, grpc_port, names, WORKERS)
        return Server(key, argv, log, rest, grpc_port, names)
    if key in TRITON_SERVERS:  # serves only its own half_plus_two (a Python-backend model)
        while grpc_port in (rest, rest + 2):  # Triton's metrics port is HTTP + 2
            grpc_port = free_port()
        repo = triton.model_repository(work, batching=key == "triton-batching")
        argv = ["bash", str(triton.TRITON_DIR / "serve.sh"), str(rest), str(grpc_port), str(repo)]
        return Server(key, argv, log, rest, grpc_port, [triton.MODEL], ready_path="/v2/models/{name}/ready")
    widths = [f"--model={MODELS[k].name}:{MODELS[k].out_width}" for k in model_dirs]
    if key == "bare-uvicorn":
        return Server(key, [py, "-m", "bench.peers.bare_uvicorn", f"--port={rest}", *widths], log, rest, None, names)
    if key == "bare-grpc":
        return Server(
            key, [py, "-m", "bench.peers.bare_grpc", f"--port={grpc_port}", *widths], log, None, grpc_port, names
        )
    model_args = [a for d in dirs for a in ("--model-dir", d)]
    if key == "flask-gevent":
        return Server(
            key, [py, "-m", "bench.peers.flask_gevent", f"--port={rest}", *model_args], log, rest, None, names
        )
    if key == "gunicorn-flask":
        return Server(
            key,
            [py, "-m", "bench.peers.gunicorn_flask", f"--port={rest}", "--workers=4", *model_args],
            log,
            rest,
            None,
            names,
        )
    raise ValueError(key)


# --------------------------------------------------------------------------- load


def rest_body(model: Model, rows: int, seed: int = 0) -> bytes:
    import numpy as np

    values = np.round(np.random.default_rng(seed).uniform(-1, 1, (rows, model.in_width)), 4)
    return json.dumps({"instances": values.tolist()}).encode()


def request_body(model: Model, protocol: str, rows: int) -> bytes:
    """The request every connection sends, in the scenario's wire form."""
    if protocol == "rest":
        return rest_body(model, rows)
    if protocol == "grpc":
        return load.predict_request_bytes(model.name, rows, model.in_width)
    if protocol == "oip-json":
        return oip.json_body(rows, model.in_width)
    if protocol == "oip-bin":
        return oip.binary_body(rows, model.in_width)[0]
    return oip.infer_request_bytes(model.name, rows, model.in_width)


def request_headers(scenario: Scenario) -> dict[str, str]:
    """Extra HTTP headers: the binary extension's header length (the same bytes every time)."""
    if scenario.protocol != "oip-bin":
        return {}
    _, header_length = oip.binary_body(scenario.rows, MODELS[scenario.model].in_width)
    return {oip.HEADER_LENGTH: str(header_length), "Content-Type": "application/octet-stream"}


def request_url(server: Server, scenario: Scenario) -> str:
    name = MODELS[scenario.model].name
    if scenario.protocol.startswith("oip-"):
        return f"http://127.0.0.1:{server.rest_port}/v2/models/{name}/infer"
    return f"http://127.0.0.1:{server.rest_port}/v1/models/{name}:predict"


def check_answer(server: Server, scenario: Scenario, payload: bytes) -> None:
    """One request before the load: the server answers 200 with one output row per input row."""
    model = MODELS[scenario.model]
    if scenario.protocol in ("oip-json", "oip-bin"):
        request = urllib.request.Request(request_url(server, scenario), data=payload, headers=request_headers(scenario))
        with urllib.request.urlopen(request, timeout=15) as response:
            rows = oip.rest_answer_rows(response.read(), response.headers.get(oip.HEADER_LENGTH))
        if rows != scenario.rows:
            raise RuntimeError(f"{server.key}: {rows} output rows for {scenario.rows} rows")
        return
    if scenario.protocol == "oip-grpc":
        import grpc

        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=15)
            rows = oip.grpc_answer_rows(channel.unary_unary(oip.MODEL_INFER_METHOD)(payload, timeout=15))
        if rows != scenario.rows:
            raise RuntimeError(f"{server.key}: {rows} output rows for {scenario.rows} rows")
        return
    if scenario.protocol == "rest":
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.rest_port}/v1/models/{model.name}:predict",
            data=payload,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            predictions = json.loads(response.read())["predictions"]
        if len(predictions) != scenario.rows:
            raise RuntimeError(f"{server.key}: {len(predictions)} predictions for {scenario.rows} rows")
        return
    import grpc
    from tensorflow_serving.apis import predict_pb2

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=15)
        call = channel.unary_unary(load.PREDICT_METHOD)
        response = predict_pb2.PredictResponse.FromString(call(payload, timeout=15))
    dims = [d.size for d in next(iter(response.outputs.values())).tensor_shape.dim]
    if not dims or dims[0] != scenario.rows:
        raise RuntimeError(f"{server.key}: output shape {dims} for {scenario.rows} rows")


def drive(
    server: Server,
    scenario: Scenario,
    payload: bytes,
    args: argparse.Namespace,
    duration: float | None = None,
    warmup: float | None = None,
) -> Row:
    row = Row(scenario.name, server.key, PROTOCOL_LABELS[scenario.protocol], scenario.connections, scenario.rows)
    try:
        check_answer(server, scenario, payload)
        if scenario.protocol in ("rest", "oip-json", "oip-bin"):
            result = load.run_http(
                request_url(server, scenario),
                payload,
                scenario.connections,
                duration or args.duration,
                args.warmup if warmup is None else warmup,
                args.generator,
                request_headers(scenario),
            )
        else:
            result = load.run_grpc(
                f"127.0.0.1:{server.grpc_port}",
                payload,
                scenario.connections,
                duration or args.duration,
                args.warmup if warmup is None else warmup,
                args.grpc_channels,
                oip.MODEL_INFER_METHOD if scenario.protocol == "oip-grpc" else load.PREDICT_METHOD,
            )
    except Exception as exc:  # noqa: BLE001 (one failed row must not stop the suite)
        row.error = f"{type(exc).__name__}: {exc}"
        return row
    row.req_s, row.rows_s = result.req_s, result.req_s * scenario.rows
    row.p50_ms, row.p99_ms = result.p50_ms, result.p99_ms
    row.requests, row.errors, row.generator, row.note = result.requests, result.errors, result.generator, result.note
    return row


class InProcessLimit:
    """``peers/inprocess.py --stay``: its batch-size sweep, then measurements on demand.

    Kept running so that the headline ratio's limit is measured right before and right after
    the server's run (seconds apart): this machine's speed drifts by up to 20 % within a minute.
    """

    def __init__(self, model_dirs: dict[str, Path], args: argparse.Namespace, work: Path) -> None:
        argv = [
            sys.executable,
            "-m",
            "bench.peers.inprocess",
            "--batch-sizes",
            args.batch_sizes,
            "--seconds",
            str(args.inprocess_seconds),
            "--warmup",
            str(0.2 if args.quick else 0.5),
            "--stay",
        ]
        for d in model_dirs.values():
            argv += ["--model-dir", str(d)]
        env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
        self.model_dirs = model_dirs
        self.log_path = work / "inprocess.log"
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log_path.open("w"),
            text=True,
            env=env,
            cwd=REPO,
        )

    def _answer(self, timeout: float) -> dict:
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        line = self._proc.stdout.readline() if ready else ""
        if not line.startswith("{"):
            self.close()
            raise RuntimeError(f"in-process failed: {self.log_path.read_text()[-1500:]}")
        return json.loads(line)

    def sweep_rows(self) -> list[Row]:
        try:
            data = self._answer(900)
        except RuntimeError as exc:
            return [Row(f"{k}-inprocess", "in-process", "call", 1, 0, error=str(exc)) for k in self.model_dirs]
        rows = []
        for key in self.model_dirs:
            per_batch = data[MODELS[key].name]
            best = per_batch.pop("best")
            for batch, r in sorted(per_batch.items(), key=lambda kv: int(kv[0])):
                rows.append(
                    Row(
                        f"{key}-inprocess",
                        f"in-process b={batch}",
                        "call",
                        1,
                        int(batch),
                        r["calls_s"],
                        r["rows_s"],
                        r["p50_ms"],
                        r["p99_ms"],
                        r["calls"],
                        0,
                        "1 thread",
                    )
                )
            b = str(best["batch"])
            rows.append(
                Row(
                    f"{key}-inprocess",
                    "in-process best",
                    "call",
                    1,
                    best["batch"],
                    per_batch[b]["calls_s"],
                    best["rows_s"],
                    per_batch[b]["p50_ms"],
                    per_batch[b]["p99_ms"],
                    per_batch[b]["calls"],
                    0,
                    "1 thread",
                    f"best batch {b}",
                )
            )
        return rows

    def measure(self, key: str, batch: int, seconds: float) -> dict:
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{MODELS[key].name} {batch} {seconds}\n")
        self._proc.stdin.flush()
        return self._answer(seconds + 120)

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()  # type: ignore[union-attr]
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


def drive_paired(
    server: Server, scenario: Scenario, payload: bytes, args: argparse.Namespace, limit: InProcessLimit, best_batch: int
) -> list[Row]:
    """The scenario's row and the limit's, measured half right before and half right after it."""
    if args.warmup > 0:  # warm the server first, then measure limit, server, limit back to back
        drive(server, scenario, payload, args, duration=args.warmup, warmup=0)
    half = args.duration / 2
    before = limit.measure(scenario.model, best_batch, half)
    row = drive(server, scenario, payload, args, warmup=0)
    after = limit.measure(scenario.model, best_batch, half)
    calls, seconds = before["calls"] + after["calls"], before["seconds"] + after["seconds"]
    paired = Row(
        f"{scenario.model}-inprocess",
        paired_limit(scenario.name),
        "call",
        1,
        best_batch,
        calls / seconds,
        calls * best_batch / seconds,
        max(before["p50_ms"], after["p50_ms"]),
        max(before["p99_ms"], after["p99_ms"]),
        calls,
        0,
        "1 thread",
        f"b={best_batch}: {before['rows_s']:,.0f} rows/s before, {after['rows_s']:,.0f} after "
        f"{scenario.name}/{server.key}",
    )
    return [row, paired]


# --------------------------------------------------------------------------- output


def _fmt(value: float, digits: int = 0) -> str:
    if value is None or value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def _short_error(error: str) -> str:
    """The informative end of an error (a traceback's last line), on one line."""
    lines = [ln.strip() for ln in error.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    head = lines[0]
    tail = [ln for ln in lines[1:] if not ln.startswith(("File ", "^", "Traceback", ">"))][-3:]
    return (head if not tail else f"{head.split(':')[0]}: " + " | ".join(tail))[:300]


def print_table(rows: list[Row], targets: list[dict], meta: dict) -> None:
    header = (
        "scenario",
        "server",
        "proto",
        "conns",
        "rows/req",
        "req/s",
        "rows/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "procs",
        "RSS MiB",
    )
    lines = []
    for r in rows:
        if r.error:
            lines.append(
                (
                    r.scenario,
                    r.server,
                    r.protocol,
                    str(r.connections),
                    str(r.rows),
                    "SKIPPED" if r.error.startswith("skipped") else "FAILED",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                )
            )
            continue
        lines.append(
            (
                r.scenario,
                r.server,
                r.protocol,
                str(r.connections),
                str(r.rows),
                _fmt(r.req_s, 1 if r.req_s < 10 else 0),
                _fmt(r.rows_s, 1 if r.rows_s < 10 else 0),
                _fmt(r.p50_ms, 3),
                _fmt(r.p99_ms, 3),
                str(r.errors),
                str(r.processes) if r.processes else "-",
                _fmt(r.rss_mib),
            )
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    right = {3, 4, 5, 6, 7, 8, 9, 10, 11}

    def fmt(cols) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths, strict=False))
        )

    print()
    print(
        f"pyserving benchmark: {meta['cpus']} CPUs, REST load {meta['rest_generator']}, gRPC load grpc.aio "
        f"({meta['grpc_channels']} channels), {meta['warmup_s']:g} s warm-up + {meta['duration_s']:g} s per row"
        + (" [--quick]" if meta["quick"] else "")
    )
    print(fmt(header))
    print(fmt(["-" * w for w in widths]))
    previous = None
    for r, line in zip(rows, lines, strict=False):
        if previous is not None and r.scenario != previous:
            print()
        previous = r.scenario
        print(fmt(line))
    failures = [r for r in rows if r.error]
    if failures:
        print()
        print("Failed or skipped rows:")
        for r in failures:
            print(f"  {r.scenario} / {r.server}: {_short_error(r.error)}")
    stalled = [r for r in rows if _stalled(r) and _valid(r)]
    if stalled:
        print()
        print("Rows with so few completed requests that the server looks stalled:")
        for r in stalled:
            print(
                f"  {r.scenario} / {r.server}: {r.requests} requests in {meta['duration_s']:g} s "
                f"over {r.connections} connection(s)"
            )
    erroneous = [r for r in rows if not r.error and not _valid(r)]
    if erroneous:
        print()
        print(f"Rows with more than {MAX_ERROR_SHARE:.0%} failed requests (not used for targets):")
        for r in erroneous:
            print(f"  {r.scenario} / {r.server}: {r.errors} errors, {r.requests} ok {r.note}")
    print()
    print(
        "Targets (ratios within one run"
        + (f"; the median over {meta['repeat']} runs, each ratio taken within its run" if meta["repeat"] > 1 else "")
        + "):"
    )
    if meta["only"]:  # a partial run: only the targets it measured
        targets = [t for t in targets if t["result"] != "n/a"]
        if not targets:
            print("  (none measured by this selection)")
    label_width = max((len(t["target"]) for t in targets), default=10)
    for t in targets:
        if t["measured"] is None:
            measured = "-"
        elif t["metric_is_ratio"]:
            measured = f"{t['measured']:.2f}x" if t["threshold"] >= 1 else f"{t['measured'] * 100:.0f} %"
        else:
            measured = f"{t['measured']:.3f}"
        wanted = (
            (f"{t['threshold']:g}x" if t["threshold"] >= 1 else f"{t['threshold'] * 100:.0f} %")
            if t["metric_is_ratio"]
            else f"{t['threshold']:g}"
        )
        runs = ""
        if t.get("runs") and t["metric_is_ratio"]:
            runs = "  runs: " + " ".join(
                "-" if v is None else f"{v:.2f}x" if t["threshold"] >= 1 else f"{v * 100:.0f}%" for v in t["runs"]
            )
        print(f"  {t['target']:<{label_width}}  {measured:>8}  (want {t['op']} {wanted:>5})  {t['result']}{runs}")


# --------------------------------------------------------------------------- main


def export_models(root: Path, keys: list[str]) -> dict[str, Path]:
    """``python -m bench.models`` in a child process (its TensorFlow log lines go to ``root/export.log``)."""
    root.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "bench.models", str(root)]
    for key in keys:
        argv += ["--only", key]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    (root / "export.log").write_text(proc.stderr)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"exporting the models failed:\n{proc.stderr[-3000:]}")
    return {k: Path(v) for k, v in json.loads(lines[-1]).items()}


def median_targets(runs: list[list[dict]]) -> list[dict]:
    """Per target: the median of its ratio over the runs, each ratio taken within its run.

    A ratio's two rows are paired in time within a run; across runs the machine's speed moves
    both together, so the median ratio is steadier than the ratio of the median rows.
    """
    out = []
    for per_run in zip(*runs, strict=False):
        target = dict(per_run[0])
        measured = sorted(t["measured"] for t in per_run if t["measured"] is not None)
        stalled = any(t["result"].endswith("(stalled)") for t in per_run)
        if len(runs) > 1:
            target["runs"] = [t["measured"] for t in per_run]
        if not measured:
            target["measured"], target["result"] = None, "n/a"
        elif len(runs) > 1:
            value = measured[(len(measured) - 1) // 2]
            target["measured"] = value
            target["result"] = _verdict(value, target["op"], target["threshold"], target["info"], stalled)
        out.append(target)
    return out


def median_rows(runs: list[list[Row]]) -> list[Row]:
    """Per (scenario, server, rows): the row of the run with the median req/s (errors win)."""
    by_key: dict[tuple[str, str, int], list[Row]] = {}
    for run in runs:
        for row in run:
            # the best in-process batch size may differ between runs: one row whatever its size
            size = 0 if row.server == "in-process best" else row.rows
            by_key.setdefault((row.scenario, row.server, size), []).append(row)
    out = []
    for candidates in by_key.values():
        failed = [r for r in candidates if r.error]
        if failed:
            out.append(failed[0])
            continue
        ranked = sorted(candidates, key=lambda r: r.req_s)
        row = ranked[(len(ranked) - 1) // 2]
        if len(ranked) > 1:
            row.note = (
                (row.note + "; " if row.note else "")
                + "median of "
                + "/".join(f"{r.req_s:,.0f}" for r in ranked)
                + " req/s"
            )
        out.append(row)
    return out


def _selected(name: str, server: str, patterns: list[str] | None) -> bool:
    """A pattern names a scenario or a server; ``SCENARIO@SERVER`` names both at once."""
    if not patterns:
        return True
    for p in patterns:
        if "@" in p:
            scenario_pattern, _, server_pattern = p.partition("@")
            if fnmatch.fnmatch(name, scenario_pattern) and fnmatch.fnmatch(server, server_pattern):
                return True
        elif fnmatch.fnmatch(name, p) or fnmatch.fnmatch(server, p):
            return True
    return False


#: ``--oip``: the OIP scenarios on every server, TF Serving's tiny REST rows on pyserving (compared with both).
OIP_SELECTION = ["*oip*", "tiny-rest-1c@pyserving*", "tiny-rest-64c@pyserving*"]


def unavailable(key: str) -> str | None:
    """Why a server cannot run here (its modules, or Triton's folder and virtualenv), or None."""
    missing = [m for m in REQUIRES.get(key, ()) if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} not installed"
    if key in TRITON_SERVERS:
        return triton.unavailable()
    return None


def _json_safe(value):
    """NaN -> null (JSON has no NaN), tuples -> lists."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _raise_exit(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs, fewer peer rows (< 3 minutes)")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="scenarios or servers to run (patterns): "
        + ", ".join([s.name for s in SCENARIOS] + list(SERVER_ORDER) + ["inprocess"])
        + "; or SCENARIO@SERVER",
    )
    parser.add_argument(
        "--oip",
        action="store_true",
        help="the OIP v2 rows: " + " ".join(OIP_SELECTION) + " (added to --only), with the in-process MLP limit",
    )
    parser.add_argument("--json", type=Path, help="write the rows, targets and settings here")
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="REST load generator (auto: wrk when installed)",
    )
    parser.add_argument("--duration", type=float, help="measured seconds per row (10; --quick 3)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per row (2; --quick 1)")
    parser.add_argument("--grpc-channels", type=int, default=4, help="channels (TCP connections) of the gRPC load")
    parser.add_argument("--batch-sizes", default="1,8,32,128,256", help="in-process batch sizes")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (models, server logs)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run everything N times; each row is the run with the median req/s "
        "(this machine's speed drifts between rows)",
    )
    args = parser.parse_args(argv)
    if args.oip:
        args.only = (args.only or []) + OIP_SELECTION
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    args.inprocess_seconds = 1.0 if args.quick else 3.0
    if args.generator == "wrk" and not shutil.which("wrk"):
        parser.error("--generator wrk: wrk is not installed")
    if args.generator in ("auto", "wrk") and shutil.which("wrk"):
        # wrk takes whole seconds
        args.duration, args.warmup = float(max(1, round(args.duration))), float(round(args.warmup))
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_exit)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored

    jobs: dict[str, list[Scenario]] = {key: [] for key in SERVER_ORDER}
    for scenario in SCENARIOS:
        servers = scenario.quick_servers if args.quick and scenario.quick_servers else scenario.servers
        for server in servers:
            if _selected(scenario.name, server, args.only):
                jobs[server].append(scenario)
    # the in-process limit also runs when the scenario compared with it is named
    inprocess_models: set[str] = set()
    paired_mlp = {s.name for s in jobs[PAIRED_SERVER]} & {
        "mlp-rest-32x16c",
        "mlp-oip-bin-32x16c",
        "mlp-oip-grpc-32x16c",
    }
    if paired_mlp or any(
        _selected(name, server, args.only)
        for name, server in (("mlp-inprocess", "inprocess"), ("tiny-inprocess", "in-process"), ("mlp-rest-32x16c", "-"))
    ):
        inprocess_models |= {"tiny", "mlp"}
    if any(
        _selected(name, server, args.only)
        for name, server in (("onnx-mlp-inprocess", "inprocess"), ("onnx-mlp-rest-32x16c", "-"))
    ):
        inprocess_models.add("onnx-mlp")
    want_inprocess = bool(inprocess_models)
    needed = {s.model for scenarios in jobs.values() for s in scenarios} | inprocess_models
    if not needed:
        parser.error(f"--only {' '.join(args.only)} selects nothing")
    keys = [k for k in MODELS if k in needed]

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="pyserving-bench-"))
    rows: list[Row] = []
    failed = False
    try:
        print(f"exporting {', '.join(MODELS[k].name for k in keys)} to {work} ...", end=" ", flush=True)
        t0 = time.monotonic()
        model_dirs = export_models(work / "models", keys)
        print(f"{time.monotonic() - t0:.1f} s", flush=True)
        payloads: dict[tuple[str, str, int], bytes] = {}
        for scenarios in jobs.values():
            for s in scenarios:
                payloads[(s.model, s.protocol, s.rows)] = request_body(MODELS[s.model], s.protocol, s.rows)
        # The limit is measured right before the server of the headline target, which then runs
        # that scenario first: the two sides of the ratio are seconds apart, not minutes (this
        # machine's speed drifts by up to 20 % within minutes).
        inprocess_before = next((k for k in (PAIRED_SERVER, *SERVER_ORDER) if jobs[k]), SERVER_ORDER[0])
        runs: list[list[Row]] = []
        for repeat in range(args.repeat):
            if args.repeat > 1:
                print(f"-- run {repeat + 1} of {args.repeat}", flush=True)
            rows = []
            limit: InProcessLimit | None = None
            best_batches: dict[str, int] = {}  # model key -> its in-process best batch size
            paired_left: set[str] = set()  # paired scenarios still to run while the limit stays up
            for key in SERVER_ORDER:
                if want_inprocess and key == inprocess_before:
                    print("in-process limit ...", end=" ", flush=True)
                    t0 = time.monotonic()
                    limit = InProcessLimit({k: d for k, d in model_dirs.items() if k in inprocess_models}, args, work)
                    inproc = limit.sweep_rows()
                    print(f"{time.monotonic() - t0:.1f} s", flush=True)
                    failed |= any(r.error for r in inproc)
                    rows += inproc
                    best_batches = {
                        r.scenario.removesuffix("-inprocess"): r.rows
                        for r in inproc
                        if r.server == "in-process best" and not r.error
                    }
                    paired_left = (
                        {s.name for s in jobs[key] if s.name in PAIRED_SCENARIOS and best_batches.get(s.model)}
                        if key == PAIRED_SERVER
                        else set()
                    )
                    if not paired_left:
                        limit.close()
                        limit = None
                scenarios = jobs[key]
                if key == PAIRED_SERVER:
                    scenarios = sorted(scenarios, key=lambda s: s.name not in PAIRED_SCENARIOS)
                if not scenarios:
                    continue
                served = {
                    k: model_dirs[k] for k in keys if k in {s.model for s in scenarios} or key.startswith("pyserv")
                }
                reason = unavailable(key)
                if reason:
                    print(f"{key}: skipped ({reason})", flush=True)
                    rows += [
                        Row(
                            s.name,
                            key,
                            PROTOCOL_LABELS[s.protocol],
                            s.connections,
                            s.rows,
                            error=f"skipped: {reason}",
                        )
                        for s in scenarios
                    ]
                    continue
                server = make_server(key, served, work)
                print(f"{key}: starting ...", end=" ", flush=True)
                try:
                    t0 = time.monotonic()
                    server.start()
                    server.wait_ready(180)
                    print(f"ready in {time.monotonic() - t0:.1f} s", flush=True)
                    for scenario in scenarios:
                        payload = payloads[(scenario.model, scenario.protocol, scenario.rows)]
                        if limit is not None and key == PAIRED_SERVER and scenario.name in paired_left:
                            row, paired = drive_paired(
                                server, scenario, payload, args, limit, best_batches[scenario.model]
                            )
                            paired_left.discard(scenario.name)
                            if not paired_left:
                                limit.close()
                                limit = None
                            rows.append(paired)
                            print(f"  {paired.server:<16} {paired.rows_s:,.0f} rows/s ({paired.note})", flush=True)
                        else:
                            row = drive(server, scenario, payload, args)
                        if not row.error and server.process is not None:
                            row.processes, row.rss_mib = oip.tree_usage(server.process.pid)
                        failed |= bool(row.error)
                        rows.append(row)
                        status = (
                            _short_error(row.error)
                            if row.error
                            else f"{row.req_s:,.0f} req/s, p50 {row.p50_ms:.3f} ms, {row.errors} errors"
                        )
                        print(f"  {scenario.name:<16} {status}", flush=True)
                except Exception as exc:  # noqa: BLE001 (a failed server must not stop the suite: its rows say why)
                    failed = True
                    message = f"{type(exc).__name__}: {exc}"
                    print(f"  {key} failed: {message}", file=sys.stderr, flush=True)
                    done = {(r.scenario, r.server) for r in rows}
                    rows += [
                        Row(s.name, key, PROTOCOL_LABELS[s.protocol], s.connections, s.rows, error=message)
                        for s in scenarios
                        if (s.name, key) not in done
                    ]
                finally:
                    server.stop()
                    if limit is not None and key == PAIRED_SERVER:
                        limit.close()
                        limit = None
            runs.append(rows)
        rows = median_rows(runs)
        targets = median_targets([evaluate(_targets(), run) for run in runs])

    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    order = {s.name: i for i, s in enumerate(SCENARIOS)}
    order.update({"tiny-inprocess": len(order), "mlp-inprocess": len(order) + 1, "onnx-mlp-inprocess": len(order) + 2})
    server_rank = {k: i for i, k in enumerate(SERVER_ORDER)}
    rows.sort(
        key=lambda r: (
            order.get(r.scenario, 99),
            server_rank.get(r.server, 98 if r.server != "in-process best" else 99),
            r.rows,
        )
    )
    for t in targets:
        t["metric_is_ratio"] = t["reference"] is not None
    rest_generator = "wrk -t1" if args.generator != "python" and shutil.which("wrk") else "python (bench/load.py)"
    meta = {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "rest_generator": rest_generator,
        "grpc_channels": args.grpc_channels,
        "quick": args.quick,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "only": args.only,
        "repeat": args.repeat,
        "batching_parameters": BATCHING_PARAMETERS,
        "elapsed_s": round(time.monotonic() - started, 1),
        "load_average": os.getloadavg(),
    }
    print_table(rows, targets, meta)
    print(f"\n({meta['elapsed_s']:.0f} s; load average at the end {meta['load_average'][0]:.2f})")
    if args.json:
        args.json.write_text(
            json.dumps(_json_safe({"meta": meta, "rows": [r.to_dict() for r in rows], "targets": targets}), indent=2)
        )
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers are already stopped (finally blocks)
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
