"""The lifecycle kernel in process: manager transitions under both policies, retries, pinned
unloads, version policies, labels, and the file-system source's settle rule.

Real loaders (the Python backend's, over ``model.py`` folders the tests write) on a real event
loop: no server process and no model framework, a few seconds for the whole module.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pyserving.backends.python import PythonBackend
from pyserving.core.event_bus import EventBus
from pyserving.core.ids import ServableId, ServableRequest
from pyserving.core.manager import AspiredVersion, AspiredVersionsManager, ManagerOptions
from pyserving.core.states import ServableState
from pyserving.sources.filesystem import FileSystemSource, ServableSourceConfig
from pyserving.sources.version_policy import VersionPolicy
from tests.helpers.python_models import write_half_plus, write_python_model

BACKEND = PythonBackend()

FLAKY_LOAD = '''
import os
from pyserving.backends.python import PythonModel, Tensor


class Model(PythonModel):
    """Fails its first {failures} loads (counted in a file beside it), then loads."""

    inputs = {{"x": Tensor("float32", [-1])}}
    outputs = {{"y": Tensor("float32", [-1])}}

    def load(self, version_dir):
        counter = os.path.join(version_dir, "attempts")
        attempts = int(open(counter).read()) if os.path.exists(counter) else 0
        open(counter, "w").write(str(attempts + 1))
        if attempts < {failures}:
            raise OSError("attempt " + str(attempts + 1) + " failed")
'''


class Recorder:
    """Every published state, as (version, state name)."""

    def __init__(self, bus: EventBus[ServableState]) -> None:
        self.events: list[tuple[int, str]] = []
        bus.subscribe(self.on_state)

    def on_state(self, state: ServableState) -> None:
        self.events.append((state.id.version, state.state.name))

    def of(self, version: int) -> list[str]:
        return [state for v, state in self.events if v == version]


def aspired(root: Path, *versions: int) -> list[AspiredVersion]:
    return [
        AspiredVersion(ServableId("m", v), BACKEND.create_loader(ServableId("m", v), str(root / str(v))))
        for v in versions
    ]


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def run(coro_fn: Callable[[], object]) -> None:
    asyncio.run(coro_fn())  # type: ignore[arg-type]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for version, b in ((1, 2.0), (2, 3.0)):
        write_half_plus(tmp_path / str(version), b=b)
    return tmp_path


def _manager(policy: str = "availability_preserving", **options: object) -> tuple[AspiredVersionsManager, Recorder]:
    bus: EventBus[ServableState] = EventBus()
    recorder = Recorder(bus)
    return AspiredVersionsManager(ManagerOptions(policy=policy, **options), bus), recorder  # type: ignore[arg-type]


def test_availability_preserving_loads_the_new_version_before_unloading_the_old(root: Path) -> None:
    async def body() -> None:
        manager, recorder = _manager()
        manager.set_aspired_versions("m", aspired(root, 1))
        await until(lambda: manager.available_versions("m") == [1])
        manager.set_aspired_versions("m", aspired(root, 2))
        await until(lambda: recorder.of(1)[-1:] == ["END"])
        assert recorder.of(1) == ["START", "LOADING", "AVAILABLE", "UNLOADING", "END"]
        assert recorder.of(2) == ["START", "LOADING", "AVAILABLE"]
        assert recorder.events.index((2, "AVAILABLE")) < recorder.events.index((1, "UNLOADING"))
        assert manager.available_versions("m") == [2]
        await manager.shutdown()

    run(body)


def test_resource_preserving_unloads_the_old_version_first(root: Path) -> None:
    async def body() -> None:
        manager, recorder = _manager("resource_preserving")
        manager.set_aspired_versions("m", aspired(root, 1))
        await until(lambda: manager.available_versions("m") == [1])
        manager.set_aspired_versions("m", aspired(root, 2))
        await until(lambda: manager.available_versions("m") == [2])
        assert recorder.events.index((1, "END")) < recorder.events.index((2, "LOADING"))
        await manager.shutdown()

    run(body)


def test_a_failed_load_is_retried_then_ends_with_its_error(tmp_path: Path) -> None:
    write_python_model(tmp_path / "1", FLAKY_LOAD.format(failures=2))
    write_python_model(tmp_path / "2", FLAKY_LOAD.format(failures=5))

    async def body() -> None:
        manager, recorder = _manager(max_num_load_retries=2, load_retry_interval_seconds=0.01)
        manager.set_aspired_versions("m", aspired(tmp_path, 1))
        await until(lambda: manager.available_versions("m") == [1])
        assert (tmp_path / "1" / "attempts").read_text() == "3"
        manager.set_aspired_versions("m", aspired(tmp_path, 1, 2))
        await until(lambda: "END" in recorder.of(2))
        assert (tmp_path / "2" / "attempts").read_text() == "3"  # one try and two retries
        assert manager.available_versions("m") == [1]  # the broken version never displaced v1
        await manager.shutdown()

    run(body)


def test_an_unload_waits_for_the_requests_pinned_to_the_version(root: Path) -> None:
    async def body() -> None:
        manager, recorder = _manager()
        manager.set_aspired_versions("m", aspired(root, 1))
        await until(lambda: manager.available_versions("m") == [1])
        handle = manager.acquire(ServableRequest.latest("m"))
        manager.set_aspired_versions("m", aspired(root, 2))
        await until(lambda: "UNLOADING" in recorder.of(1))
        await asyncio.sleep(0.05)
        assert recorder.of(1)[-1] == "UNLOADING"  # still pinned
        assert handle.servable.run("serving_default", {"x": np.ones((1, 1), np.float32)}, ["y"])["y"][0, 0] == 2.5
        handle.release()
        await until(lambda: recorder.of(1)[-1] == "END")
        with manager.acquire(ServableRequest.latest("m")) as latest:
            assert latest.id.version == 2
        await manager.shutdown()

    run(body)


def test_an_unaspired_version_that_never_started_ends_at_once(root: Path) -> None:
    async def body() -> None:
        manager, recorder = _manager(num_load_threads=1)
        manager.set_aspired_versions("m", aspired(root, 1, 2))
        await until(lambda: manager.is_settled("m"))
        manager.set_aspired_versions("m", [])
        await until(lambda: manager.available_versions("m") == [])
        await until(lambda: recorder.of(1)[-1] == "END" and recorder.of(2)[-1] == "END")
        await manager.shutdown()

    run(body)


@pytest.mark.parametrize(
    "policy, available, selected",
    [
        (VersionPolicy(), [1, 2, 3], [3]),
        (VersionPolicy("latest", num_versions=2), [1, 3, 2], [3, 2]),
        (VersionPolicy("all"), [2, 1], [1, 2]),
        (VersionPolicy("specific", versions=(1, 7)), [1, 2, 3], [1]),
    ],
)
def test_version_policies(policy: VersionPolicy, available: list[int], selected: list[int]) -> None:
    assert sorted(policy.select("m", available)) == sorted(selected)


def test_the_source_waits_for_a_folder_being_written_then_offers_it(tmp_path: Path) -> None:
    emitted: list[list[int]] = []

    def emit(name: str, versions: list[AspiredVersion]) -> None:
        emitted.append([v.id.version for v in versions])

    def make(servable_id: ServableId, path: str) -> AspiredVersion:
        return AspiredVersion(servable_id, BACKEND.create_loader(servable_id, path))

    async def body() -> None:
        source = FileSystemSource(
            ServableSourceConfig("m", str(tmp_path), VersionPolicy()),
            make,
            emit,
            poll_wait_seconds=0,
            settle_seconds=3600,
            is_complete=BACKEND.version_complete,
        )
        write_half_plus(tmp_path / "1")
        await source.poll()  # the first poll (startup) offers a complete folder at once
        assert emitted == [[1]]
        half = tmp_path / "2"
        half.mkdir()
        (half / "model.py").write_text("class Model(  # still being copied")
        await source.poll()
        await source.poll()  # unchanged but incomplete (does not compile): not offered
        assert emitted[-1] == [1]
        write_half_plus(half, b=3.0)
        await source.poll()  # changed: remembered again
        assert emitted[-1] == [1]
        await source.poll()  # unchanged and complete: offered
        assert emitted[-1] == [2]

    run(body)


def test_the_source_offers_an_old_enough_folder_even_if_it_never_completes(tmp_path: Path) -> None:
    emitted: list[list[int]] = []

    async def body() -> None:
        source = FileSystemSource(
            ServableSourceConfig("m", str(tmp_path), VersionPolicy()),
            lambda sid, path: AspiredVersion(sid, BACKEND.create_loader(sid, path)),
            lambda name, versions: emitted.append([v.id.version for v in versions]),
            poll_wait_seconds=0,
            settle_seconds=10,
            is_complete=lambda path: False,
        )
        (tmp_path / "4").mkdir()
        (tmp_path / "4" / "model.py").write_text("broken(")
        old = time.time() - 60
        os.utime(tmp_path / "4" / "model.py", (old, old))
        await source.poll()  # its newest file is a minute old: a broken version, tried and reported
        assert emitted == [[4]]

    run(body)


def test_labels_resolve_through_the_server_core(root: Path) -> None:
    from pyserving.core.errors import InvalidArgumentError
    from pyserving.serving.model_config import ModelConfig
    from pyserving.serving.server_core import ServerCore, ServerCoreOptions

    async def body() -> None:
        core = ServerCore(ServerCoreOptions(file_system_settle_seconds=0))
        await core.apply_config(
            [ModelConfig("m", str(root), "python", VersionPolicy("all"), {"stable": 1, "canary": 2})]
        )
        await core.monitor.wait_until(lambda: core.manager.available_versions("m") == [2, 1], 10)
        assert core.resolve("m", label="canary") == ServableRequest.specific("m", 2)
        with core.acquire(core.resolve("m", label="stable")) as handle:
            assert handle.id.version == 1
        with pytest.raises(InvalidArgumentError, match="Unrecognized servable version label: beta"):
            core.resolve("m", label="beta")
        await core.stop()

    run(body)
