"""The client installed alone: a fresh virtualenv with pyserving-client (clients/python) and its
three dependencies, no TensorFlow, calling a server started from the main environment.

Skips cleanly where the packages cannot be installed (no index reachable).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.server import REPO, RunningServer

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys
    import numpy as np
    assert importlib.util.find_spec("tensorflow") is None, "tensorflow is importable"
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("import tensorflow worked")
    from pyserving.client import Client, NotFound, make_ndarray, make_tensor_proto
    x = np.array([[1.0], [2.0], [5.0]], dtype=np.float32)
    for address in sys.argv[1:]:
        with Client(address) as client:
            y = client.predict("half_plus_two", {"x": x})["y"]
            assert y.tolist() == [[2.5], [3.0], [4.5]], y
            assert client.ready("half_plus_two")
            try:
                client.predict("nope", {"x": x})
            except NotFound:
                pass
            else:
                raise SystemExit("no NotFound")
    assert make_ndarray(make_tensor_proto([1.0, 2.0])).tolist() == [1.0, 2.0]
    import pyserving
    assert getattr(pyserving, "__file__", None) is None, "the server package is installed"
    banned = {"tensorflow", "tensorflow_serving", "uvicorn", "orjson", "simdjson", "prometheus_client"}
    assert not banned & {m.split(".")[0] for m in sys.modules}, sorted(banned & set(sys.modules))
    print("client-only OK")
    """
)


def _run(argv: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_client_alone_in_a_fresh_virtualenv(server: RunningServer, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "clients/python"], REPO)
    shutil.rmtree(REPO / "pyserving_client.egg-info", ignore_errors=True)
    shutil.rmtree(REPO / "clients" / "python" / "build", ignore_errors=True)
    if build.returncode != 0:
        pytest.skip(f"cannot build the client wheel here (no setuptools>=77 reachable): {build.stderr[-500:]}")
    (wheel,) = wheels.glob("pyserving_client-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = _run([python, "-m", "pip", "install", "-q", str(wheel)], tmp_path)
    if install.returncode != 0:
        pytest.skip(f"cannot install numpy, grpcio and protobuf here: {install.stderr[-500:]}")
    listed = _run([python, "-m", "pip", "list", "--format=freeze"], tmp_path).stdout
    names = {line.split("==")[0].lower() for line in listed.split()}
    assert names - {"pip", "setuptools", "typing_extensions", "typing-extensions"} == {
        "numpy",
        "grpcio",
        "protobuf",
        "pyserving-client",
    }
    # run from tmp_path: the repository's own pyserving/ must not be on the path
    result = _run([python, "-c", SCRIPT, server.rest_url, f"grpc://{server.grpc_address}"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "client-only OK" in result.stdout
