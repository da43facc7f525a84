"""FileSystemSource: polls ``base_path/<int>/`` and emits the aspired versions.

A version folder that appears while serving is only offered once it looks
complete: its file listing (names, sizes, mtimes) was unchanged across one poll
and the backend finds it complete (``is_complete``), or its newest file is older
than ``settle_seconds`` (so a truly broken version is still tried, and its error
reported). A folder still being copied is therefore not loaded half-written.

The folders a model's first poll finds (at startup, or when a config adds the
model) were exported before the server was asked for them: a complete one is
offered at once, without waiting for a second poll, so that the server opens
its ports with the model loaded (TF Serving's tests export, start the server
and predict at once).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyserving.core.ids import ServableId
from pyserving.core.manager import AspiredVersion
from pyserving.sources.version_policy import VersionPolicy

logger = logging.getLogger("pyserving.source")

_VERSION = re.compile(r"^[+-]?\d+$")
_INT64_MAX = 2**63 - 1

LoaderFactory = Callable[[ServableId, str], AspiredVersion]
Emit = Callable[[str, list[AspiredVersion]], None]


@dataclass(frozen=True)
class ServableSourceConfig:
    name: str
    base_path: str
    policy: VersionPolicy


def list_versions(base_path: str) -> dict[int, str]:
    """Numeric children of ``base_path`` (absl SimpleAtoi rules); later duplicates win."""
    versions: dict[int, str] = {}
    for entry in sorted(os.listdir(base_path)):
        if not _VERSION.match(entry):
            continue
        version = int(entry)
        if abs(version) > _INT64_MAX:
            continue
        if version in versions:
            logger.warning("Duplicate version directories %s and %s under %s", versions[version], entry, base_path)
        versions[version] = os.path.join(base_path, entry)
    return versions


def _fingerprint(path: str) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
    return tuple(sorted(entries))


class FileSystemSource:
    """Polls one model's base path. Event-loop only; directory reads run in a thread."""

    def __init__(
        self,
        config: ServableSourceConfig,
        make_version: LoaderFactory,
        emit: Emit,
        poll_wait_seconds: float,
        settle_seconds: float = 10.0,
        is_complete: Callable[[str], bool] | None = None,
    ) -> None:
        self.config = config
        self._make_version = make_version
        self._emit = emit
        self._poll_wait_seconds = poll_wait_seconds
        self._settle_seconds = settle_seconds
        self._is_complete = is_complete or (lambda path: True)
        self._ready: dict[int, AspiredVersion] = {}
        self._pending: dict[int, tuple[tuple[str, int, int], ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self._polled = False
        #: Why the base path yields no version (missing folder, no numbered folder); None when fine.
        self.problem: str | None = None

    def start(self) -> None:
        """Polls periodically in a task; the first poll happens at once."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    def polled(self) -> bool:
        """Polled at least once, or not polling (never started, or stopped)."""
        return self._polled or self._task is None or self._task.done()

    def settled(self) -> bool:
        """Nothing more to offer soon: polled with no version folder still being written, or not
        polling (never started, or polls only once)."""
        if self._task is None or self._task.done():
            return True
        return self._polled and not self._pending

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def update_policy(self, config: ServableSourceConfig) -> None:
        self.config = config

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad poll must never stop polling
                logger.exception("Polling %s failed", self.config.base_path)
            if self._poll_wait_seconds <= 0:
                return
            await asyncio.sleep(self._poll_wait_seconds)

    async def poll(self) -> None:
        name, base_path = self.config.name, self.config.base_path
        try:
            on_disk = await asyncio.to_thread(list_versions, base_path)
        except OSError as exc:
            self._report(logging.ERROR, f"Could not find base path {base_path} for servable {name} with error {exc}")
            self._polled = True
            return
        if not on_disk:
            self._report(
                logging.WARNING,
                f"No versions of servable {name} found under base path "
                f"{base_path}. Did you forget to name your leaf directory "
                "as a number (eg. '/1/')?",
            )
        else:
            self._report(logging.INFO, None)
        complete = await asyncio.to_thread(self._complete_versions, on_disk, not self._polled)
        wanted = self.config.policy.select(name, complete)
        for version in wanted:
            if version not in self._ready:
                self._ready[version] = self._make_version(ServableId(name, version), on_disk[version])
        for version in list(self._ready):
            if version not in on_disk:
                del self._ready[version]
        self._emit(name, [self._ready[v] for v in wanted])
        self._polled = True

    def _report(self, level: int, problem: str | None) -> None:
        """Logs a base-path problem once, and again only when it changes (polls repeat every second)."""
        if problem == self.problem:
            return
        if problem is None:
            logger.info("Found versions of servable %s under base path %s", self.config.name, self.config.base_path)
        else:
            logger.log(level, "%s", problem)
        self.problem = problem

    def _complete_versions(self, on_disk: dict[int, str], first_poll: bool) -> list[int]:
        complete = []
        now = time.time()
        for version, path in on_disk.items():
            if version in self._ready:
                complete.append(version)
                continue
            fingerprint = _fingerprint(path)
            if not fingerprint:
                continue  # an empty folder is not a version yet
            newest = max((mtime for _, _, mtime in fingerprint), default=0) / 1e9
            settled = now - newest > self._settle_seconds or (
                (first_poll or self._pending.get(version) == fingerprint) and self._is_complete(path)
            )
            if settled:
                self._pending.pop(version, None)
                complete.append(version)
            else:
                self._pending[version] = fingerprint
        for version in list(self._pending):
            if version not in on_disk:
                del self._pending[version]
        return complete
