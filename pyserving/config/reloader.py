"""Polls --model_config_file and applies it when its models change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from pyserving.config.model_server_config import read_model_config_file
from pyserving.core.errors import ServingError
from pyserving.serving.model_config import ModelConfig

logger = logging.getLogger("pyserving.config")


async def poll_model_config_file(
    path: str,
    interval_seconds: float,
    current: Sequence[ModelConfig],
    apply: Callable[[Sequence[ModelConfig]], Awaitable[None]],
) -> None:
    """Runs until cancelled; errors are logged and the old config stays (TF Serving's rule)."""
    applied = list(current)
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            models = await asyncio.to_thread(read_model_config_file, path)
            if models != applied:
                await apply(models)
                applied = models
                logger.info("Applied new model config from %s: %s", path, [m.name for m in models])
        except ServingError as exc:
            logger.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s", exc.message)
        except Exception:
            logger.exception("Reloading %s failed", path)
