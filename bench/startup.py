"""Time from process start to AVAILABLE, and resident memory, for one model.

    python -m bench.startup [MODEL_BASE_PATH] [--name NAME] [--runs N] [--width W]

Prints seconds to the REST port answering, to the model being AVAILABLE, and
the server's RSS once AVAILABLE and after 200 predict requests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.helpers.server import free_port

SEED_BODY = {"instances": [{"words": ["很", "喜欢"], "nwords": 2}, {"words": ["很", "垃圾"], "nwords": 2}]}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(base_path: str, name: str, width: int = 0, server: list[str] | None = None) -> dict[str, float]:
    """``server``: the command that runs ``pyserving serve`` (default: this interpreter's)."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            [
                *(server or [sys.executable, "-m", "pyserving", "serve"]),
                f"--model_name={name}",
                f"--model_base_path={base_path}",
                f"--rest_api_port={port}",
                "--port=0",
                "--host=127.0.0.1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/v1/models/{name}"
        port_open = available = None
        try:
            while available is None:
                if proc.poll() is not None:
                    log.seek(0)
                    raise SystemExit(log.read().decode(errors="replace"))
                try:
                    body = requests.get(url, timeout=1).json()
                    port_open = port_open or time.monotonic() - started
                    if any(v["state"] == "AVAILABLE" for v in body.get("model_version_status", [])):
                        available = time.monotonic() - started
                except requests.RequestException:
                    pass
                time.sleep(0.01)
            rss_ready = rss_mib(proc.pid)
            body = SEED_BODY if name == "lstm" else {"instances": [[0.5] * width] if width else [1.0]}
            with requests.Session() as session:
                for _ in range(200):
                    session.post(url + ":predict", data=json.dumps(body), timeout=10).raise_for_status()
            return {
                "port_open_s": port_open or 0.0,
                "available_s": available,
                "rss_available_mib": rss_ready,
                "rss_after_200_mib": rss_mib(proc.pid),
            }
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    default = Path(__file__).resolve().parents[2] / "shared" / "models" / "lstm"
    parser.add_argument("base_path", nargs="?", default=str(default))
    parser.add_argument("--name", default="lstm")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--width", type=int, default=0, help="predict with one row of this many floats (e.g. 512 for bench's MLPs)"
    )
    args = parser.parse_args()
    rows = [measure(args.base_path, args.name, args.width) for _ in range(args.runs)]
    for key in rows[0]:
        values = sorted(r[key] for r in rows)
        print(f"{key:>20}: median {values[len(values) // 2]:.2f}  (runs: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
