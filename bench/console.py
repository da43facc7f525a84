"""What the status console costs: req/s with and without a watcher, and the page's first paint.

    .venv/bin/python -m bench.console                       # overhead (3 pairs) + first paint
    .venv/bin/python -m bench.console --pairs 5 --compare-off
    .venv/bin/python -m bench.console --screenshots docs/   # the README's pictures, taken under load

Overhead: the tiny model (half_plus_two), REST, 64 connections (wrk when installed), runs
alternating between nobody watching and one client polling ``/console/api/stats`` as the page
does (a POST with ``after``/``after_event`` every second, ``/v1/config`` and the model status
every 10 s). A watcher's Python poller, not a browser: a browser's own CPU on a small machine
would be charged to the server. Before each unwatched run the script waits until the sampler
has stopped (``IDLE_SECONDS``). ``--compare-off`` adds runs against a second server started
with ``--enable_console=false``. First paint: Debian's chromium (Playwright), a fresh context
per load, ``first-contentful-paint`` and the time until the models table is filled.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from bench.load import run_http
from bench.models import export_models
from bench.run import Server, free_port, make_server
from pyserving.console.stats import IDLE_SECONDS

CHROMIUM = "/usr/bin/chromium"
TINY_BODY = json.dumps({"instances": [[1.0]]}).encode()


class Watcher:
    """Polls the stats endpoint the way console.js does, on a thread."""

    def __init__(self, base: str, model: str) -> None:
        self.base, self.model = base, model
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.polls = 0

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import requests

        after = after_event = 0
        last_config = 0.0
        with requests.Session() as session:
            while not self._stop.is_set():
                doc = session.post(
                    f"{self.base}/console/api/stats", timeout=10, json={"after": after, "after_event": after_event}
                ).json()
                after, after_event = doc["seq"], doc["event_seq"]
                self.polls += 1
                if time.monotonic() - last_config > 10:
                    session.get(f"{self.base}/v1/config", timeout=10)
                    session.get(f"{self.base}/v1/models/{self.model}", timeout=10)
                    last_config = time.monotonic()
                self._stop.wait(1.0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server: Server, args: argparse.Namespace, watched: bool) -> tuple[float, float]:
    """(req/s, server CPU µs per request). The CPU figure is what the server spent, whatever else
    the machine runs meanwhile; it covers the whole run, so the runs have no separate warm-up."""
    base = f"http://127.0.0.1:{server.rest_port}"
    url = f"{base}/v1/models/half_plus_two:predict"

    def run() -> tuple[float, float]:
        before = cpu_seconds(server.process.pid)
        result = run_http(url, TINY_BODY, args.connections, args.duration, 0, args.generator)
        used = cpu_seconds(server.process.pid) - before
        return result.req_s, used / max(result.requests, 1) * 1e6

    if not watched:
        time.sleep(IDLE_SECONDS + 1)  # the sampler of an earlier watched run has stopped
        return run()
    with Watcher(base, "half_plus_two"):
        time.sleep(1.5)
        return run()


def overhead(args: argparse.Namespace, work: Path, dirs: dict[str, Path]) -> dict:
    servers = {"on": make_server("pyserving", dirs, work)}
    if args.compare_off:
        (work / "off").mkdir(exist_ok=True)
        off = make_server("pyserving", dirs, work / "off")
        rest = free_port()
        off.argv = [a for a in off.argv if not a.startswith("--rest_api_port")] + [
            f"--rest_api_port={rest}",
            "--enable_console=false",
        ]
        off.rest_port = rest
        off.log_path = work / "off.log"
        servers["off"] = off
    results: dict[str, list[float]] = {"unwatched": [], "watched": [], "off": []}
    cpu: dict[str, list[float]] = {"unwatched": [], "watched": [], "off": []}
    try:
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_ready(180)
            run_http(
                f"http://127.0.0.1:{server.rest_port}/v1/models/half_plus_two:predict",
                TINY_BODY,
                args.connections,
                args.warmup,
                0,
                args.generator,
            )  # warm-up
        kinds = ["unwatched", "watched"] + (["off"] if args.compare_off else [])
        for i in range(args.pairs):
            order = kinds if i % 2 == 0 else list(reversed(kinds))
            for kind in order:
                server = servers["off" if kind == "off" else "on"]
                req_s, us = measure(server, args, kind == "watched")
                results[kind].append(req_s)
                cpu[kind].append(us)
                print(f"  pair {i + 1} {kind:9s} {req_s:9,.0f} req/s {us:7.1f} µs CPU/request", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    ratios = [(u - w) / u * 100 for u, w in zip(results["unwatched"], results["watched"], strict=True)]
    summary = {
        "unwatched_req_s": statistics.median(results["unwatched"]),
        "watched_req_s": statistics.median(results["watched"]),
        "overhead_percent_per_pair": [round(r, 2) for r in ratios],
        "overhead_percent_median": round(statistics.median(ratios), 2),
        "cpu_us_per_request_unwatched": round(statistics.median(cpu["unwatched"]), 1),
        "cpu_us_per_request_watched": round(statistics.median(cpu["watched"]), 1),
        # Capacity lost: the extra server CPU per request, as a share of the unwatched cost.
        "cpu_overhead_percent_per_pair": [
            round((w - u) / u * 100, 2) for u, w in zip(cpu["unwatched"], cpu["watched"], strict=True)
        ],
    }
    summary["cpu_overhead_percent_median"] = round(statistics.median(summary["cpu_overhead_percent_per_pair"]), 2)
    if args.compare_off:
        off_ratios = [(o - u) / o * 100 for o, u in zip(results["off"], results["unwatched"], strict=True)]
        summary["off_req_s"] = statistics.median(results["off"])
        summary["unwatched_vs_off_percent_median"] = round(statistics.median(off_ratios), 2)
    return summary


def micro() -> dict:
    """What one watcher adds to the event loop, timed in-process (immune to other load on the machine):
    per model request (ServerCore.run's timed path and the console's run listener, Prometheus off)
    and per second (one sample and one stats answer)."""
    import types

    import orjson

    from pyserving.console.stats import LiveStats
    from pyserving.core.ids import ServableId

    core = types.SimpleNamespace(models={"half_plus_two": None}, run_listeners=[], batch_listeners=[])
    stats = LiveStats(core, None)  # type: ignore[arg-type]
    sid = ServableId("half_plus_two", 1)
    n = 200_000
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        stats._on_run(sid, "serving_default", {}, time.perf_counter() - t0, None)
    per_request_us = (time.perf_counter() - started) / n * 1e6
    previous = stats._snapshot()
    for _ in range(MAX_POINTS_FILL):
        current = stats._snapshot()
        stats._add_point(previous, current)
        previous = current
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        current = stats._snapshot()
        stats._add_point(previous, current)
        previous = current
        orjson.dumps({"points": stats.after(stats.seq - 1)})
    per_second_us = (time.perf_counter() - started) / rounds * 1e6
    return {"per_watched_request_us": round(per_request_us, 2), "per_second_us": round(per_second_us, 1)}


MAX_POINTS_FILL = 300


def first_paint(args: argparse.Namespace, work: Path, dirs: dict[str, Path]) -> dict:
    from playwright.sync_api import sync_playwright

    server = make_server("pyserving", dirs, work)
    server.log_path = work / "paint.log"
    fcp, filled = [], []
    try:
        server.start()
        server.wait_ready(180)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for _ in range(args.paint_runs):
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{server.rest_port}/")
                page.wait_for_selector('tr[data-state="AVAILABLE"]')
                filled.append(page.evaluate("performance.now()"))
                fcp.append(page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime"))
                context.close()
            browser.close()
    finally:
        server.stop()
    return {
        "runs": args.paint_runs,
        "first_contentful_paint_ms_median": round(statistics.median(fcp), 1),
        "first_contentful_paint_ms_max": round(max(fcp), 1),
        "models_listed_ms_median": round(statistics.median(filled), 1),
        "models_listed_ms_max": round(max(filled), 1),
    }


def screenshots(args: argparse.Namespace, work: Path, dirs: dict[str, Path]) -> list[str]:
    """Full page under load (tiny model at 64 connections, lstm from a thread), plus two tabs."""
    import requests
    from playwright.sync_api import sync_playwright

    out = Path(args.screenshots)
    out.mkdir(parents=True, exist_ok=True)
    config = work / "shots.config"
    config.write_text(
        "model_config_list {\n"
        f'  config {{ name: "half_plus_two" base_path: "{dirs["tiny"]}" model_platform: "tensorflow" }}\n'
        f'  config {{ name: "lstm" base_path: "{REPO / "examples/models/lstm"}" '
        'model_platform: "tensorflow" }\n}\n'
    )
    rest = free_port()
    server = Server(
        "shots",
        [
            sys.executable,
            "-m",
            "pyserving",
            "serve",
            f"--model_config_file={config}",
            f"--rest_api_port={rest}",
            f"--port={free_port()}",
            "--host=127.0.0.1",
        ],
        work / "shots.log",
        rest,
        None,
        ["half_plus_two", "lstm"],
    )
    base = f"http://127.0.0.1:{rest}"
    stop = threading.Event()

    def lstm_load() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                session.post(
                    f"{base}/v1/models/lstm:predict",
                    timeout=30,
                    json={"instances": [{"words": ["很", "喜欢"], "nwords": 2}]},
                )

    written = []
    try:
        server.start()
        server.wait_ready(180)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base + "/")
            threads = [threading.Thread(target=lstm_load) for _ in range(2)]
            for thread in threads:
                thread.start()
            # The tiny model at 64 connections for ~25 s while the charts fill.
            load = threading.Thread(
                target=run_http, args=(f"{base}/v1/models/half_plus_two:predict", TINY_BODY, 64, 25, 0, args.generator)
            )
            load.start()
            time.sleep(22)
            path = out / "console-under-load.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(str(path))
            load.join()
            stop.set()
            for thread in threads:
                thread.join()
            lstm = page.locator('section[data-model="lstm"]')
            lstm.locator('button[data-tab="Try it"]').click()
            lstm.locator('[data-input="words"]').fill("很 喜欢")
            lstm.locator('[data-input="nwords"]').fill("2")
            lstm.locator("button.send").click()
            lstm.locator(".answer").wait_for()
            path = out / "console-try-it.png"
            lstm.screenshot(path=str(path))
            written.append(str(path))
            lstm.locator('button[data-tab="Signatures"]').click()
            path = out / "console-signatures.png"
            lstm.screenshot(path=str(path))
            written.append(str(path))
            browser.close()
    finally:
        stop.set()
        server.stop()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--generator", default="auto", choices=["auto", "wrk", "python"])
    parser.add_argument("--compare-off", action="store_true", help="also a server with --enable_console=false")
    parser.add_argument("--paint-runs", type=int, default=10)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-paint", action="store_true")
    parser.add_argument("--screenshots", metavar="DIR", help="only take the screenshots, into DIR")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        work = Path(tmp)
        dirs = export_models(work / "models", ["tiny"])
        if args.screenshots:
            print(json.dumps({"screenshots": screenshots(args, work, dirs)}, indent=1))
            return
        report: dict = {"micro": micro()}
        if not args.skip_overhead:
            report["overhead"] = overhead(args, work, dirs)
        if not args.skip_paint:
            report["first_paint"] = first_paint(args, work, dirs)
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
