"""The gateway's only way to a model server: replicas, round-robin, failover, health, deadlines.

Why here and not in each transport: the policy is the same for gRPC and REST.
A call goes to the next replica in round-robin order, healthy ones first; on
UNAVAILABLE (connection refused, reset, server shutting down) or NOT_FOUND
(the model is not loaded there) it moves on to the next replica, inside the
same deadline. A replica that fails that way is marked down at once; the
background health check (GetModelStatus, gRPC Health, or REST model status)
brings it back. If every replica is down the gateway still tries them (fail
open), so a flapping health check never causes an outage by itself.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from pyserving.gateway import codec
from pyserving.gateway.config import UpstreamConfig
from pyserving.gateway.transports import ModelTarget, Transport, UpstreamError, create_transport
from pyserving.tensors.signature import Signature

logger = logging.getLogger("pyserving.gateway.upstream")

T = TypeVar("T")
_FAILOVER_CODES = frozenset({"UNAVAILABLE", "NOT_FOUND"})
_SIGNATURE_TTL_S = 60.0
# Without health checks, a replica marked down is tried again after this long.
_PASSIVE_COOLDOWN_S = 5.0
# A probe slower than this marks the replica unreachable (not tied to the interval, so a
# short interval on a busy machine does not flap).
_PROBE_TIMEOUT_S = 2.0


@dataclass
class Replica:
    """One address of an upstream and what it is believed to serve. Event-loop only.

    ``reachable``: the last probe or call got through. ``models``: the routed
    models it reported AVAILABLE (None until the first probe: assume all).
    """

    address: str
    transport: Transport
    reachable: bool = True
    models: set[str] | None = None
    down_since: float = 0.0
    last_error: str = ""

    def usable(self, model: str, now: float, active_checks: bool) -> bool:
        if not self.reachable:
            return not active_checks and now - self.down_since > _PASSIVE_COOLDOWN_S
        return self.models is None or model in self.models

    def serves(self, model: str) -> bool:
        return self.reachable and (self.models is None or model in self.models)


class Upstream:
    """Replicas of one model server (pyserving or TF Serving), as named in the config.

    Event-loop only: create, ``start()``, call and ``aclose()`` on one loop
    (the gRPC channels and httpx clients are bound to it).
    """

    def __init__(self, config: UpstreamConfig, models: frozenset[str]) -> None:
        self.config = config
        self.name = config.name
        self.models = sorted(models)
        self.replicas: list[Replica] = []
        self._rr = itertools.count()
        self._signatures: dict[ModelTarget, tuple[Signature, float]] = {}
        self._health_task: asyncio.Task[None] | None = None

    @property
    def active_checks(self) -> bool:
        return self.config.health_check != "none"

    @property
    def ready(self) -> bool:
        """Every routed model has a replica believed to serve it (what /readyz reports)."""
        return all(any(r.serves(m) for r in self.replicas) for m in self.models)

    def health(self) -> dict[str, Any]:
        """Counts for /readyz (no addresses: it answers unauthenticated callers)."""
        return {
            "replicas": len(self.replicas),
            "reachable_replicas": sum(r.reachable for r in self.replicas),
            "models": {m: sum(r.serves(m) for r in self.replicas) for m in self.models},
        }

    async def start(self) -> None:
        """Opens the pooled connections and starts the health loop (call on the serving loop)."""
        self.replicas = [
            Replica(address, create_transport(self.config.protocol, address, self.config))
            for address in self.config.replicas
        ]
        if self.active_checks and self.models:
            self._health_task = asyncio.create_task(self._health_loop(), name=f"gateway-health-{self.name}")

    async def aclose(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
        await asyncio.gather(*(r.transport.aclose() for r in self.replicas), return_exceptions=True)

    # -- calls -----------------------------------------------------------------------------

    async def predict(
        self, target: ModelTarget, raw_inputs: Any, timeout_s: float, request_id: str
    ) -> dict[str, np.ndarray]:
        """A transform's model inputs in, ``{alias: ndarray}`` out.

        Raises :class:`codec.InputError` when the inputs do not fit the
        signature, :class:`UpstreamError` when no replica answered well.
        """
        deadline = time.monotonic() + timeout_s
        signature = await self.signature(target, deadline)
        inputs = codec.model_inputs(raw_inputs, signature)
        try:
            return await self._call(
                lambda t, left: t.predict(target, inputs, signature, left, request_id), deadline, target.model
            )
        except UpstreamError as exc:
            if exc.code == "INVALID_ARGUMENT":  # maybe a new model version changed the signature
                self._signatures.pop(target, None)
            raise

    async def predict_json(self, target: ModelTarget, body: dict[str, Any], timeout_s: float, request_id: str) -> bytes:
        """A TF Serving predict body in, TF Serving's JSON response out (pass-through routes)."""
        deadline = time.monotonic() + timeout_s
        signature = None
        if self.replicas and self.replicas[0].transport.json_needs_signature:
            signature = await self.signature(target, deadline)
        try:
            return await self._call(
                lambda t, left: t.predict_json(target, body, signature, left, request_id), deadline, target.model
            )
        except UpstreamError as exc:
            if exc.code == "INVALID_ARGUMENT":
                self._signatures.pop(target, None)
            raise

    async def signature(self, target: ModelTarget, deadline: float) -> Signature:
        """The target's signature from model metadata, cached for a minute."""
        cached = self._signatures.get(target)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        signature = await self._call(lambda t, left: t.signature(target, left), deadline, target.model)
        self._signatures[target] = (signature, now + _SIGNATURE_TTL_S)
        return signature

    def _order(self, model: str) -> list[Replica]:
        """Round-robin rotation, usable replicas first (the rest after them: fail open)."""
        n = len(self.replicas)
        start = next(self._rr) % n
        rotated = self.replicas[start:] + self.replicas[:start]
        now = time.monotonic()
        usable = [r for r in rotated if r.usable(model, now, self.active_checks)]
        return usable + [r for r in rotated if r not in usable]

    async def _call(self, op: Callable[[Transport, float], Awaitable[T]], deadline: float, model: str) -> T:
        order = self._order(model)
        retries = self.config.retries
        attempts = order if retries is None else order[: retries + 1]
        last: UpstreamError | None = None
        for replica in attempts:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(left):
                    result = await op(replica.transport, left)
            except TimeoutError:
                raise UpstreamError("DEADLINE_EXCEEDED", "no answer within the route's deadline") from None
            except UpstreamError as exc:
                if exc.code not in _FAILOVER_CODES:
                    raise
                if exc.code == "UNAVAILABLE":
                    self._mark_down(replica, exc.message)
                elif replica.models is not None:
                    replica.models.discard(model)
                last = exc
                continue
            if not replica.reachable and not self.active_checks:
                replica.reachable = True
            return result
        if last is not None:
            raise last
        raise UpstreamError("DEADLINE_EXCEEDED", "the route's deadline passed before a replica answered")

    def _mark_down(self, replica: Replica, reason: str) -> None:
        if replica.reachable:
            logger.warning("upstream %s replica %s marked down: %s", self.name, replica.address, reason)
        replica.reachable = False
        replica.down_since = time.monotonic()
        replica.last_error = reason

    # -- health ----------------------------------------------------------------------------

    async def _health_loop(self) -> None:
        interval = self.config.health_interval_ms / 1000
        while True:
            await asyncio.gather(*(self._check(r, _PROBE_TIMEOUT_S) for r in self.replicas))
            await asyncio.sleep(interval)

    async def _check(self, replica: Replica, timeout_s: float) -> None:
        models: set[str] | None
        try:
            async with asyncio.timeout(timeout_s):
                models = await replica.transport.check(self.models, self.config.health_check, timeout_s)
        except Exception as exc:  # noqa: BLE001 - a failing probe means unreachable, never a crash
            models, replica.last_error = None, f"{type(exc).__name__}: {exc}"
        was = (replica.reachable, replica.models)
        if models is None:
            if replica.reachable:
                replica.down_since = time.monotonic()
            replica.reachable = False
        else:
            replica.reachable, replica.models = True, models
        if (replica.reachable, replica.models) != was:
            missing = sorted(set(self.models) - (replica.models or set()))
            if not replica.reachable:
                logger.warning("upstream %s replica %s is unreachable", self.name, replica.address)
            elif missing:
                logger.warning(
                    "upstream %s replica %s does not serve %s", self.name, replica.address, ", ".join(missing)
                )
            else:
                logger.info("upstream %s replica %s is healthy", self.name, replica.address)
