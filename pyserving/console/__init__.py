"""The status console: a page on the REST port showing models, signatures and live stats, with a try-it form.

``--enable_console`` (default on) adds its routes; see ``routes.py`` for the
paths and ``stats.py`` for why it costs nothing while nobody watches.
"""

from __future__ import annotations

from pyserving.console.routes import FILES, PREFIX, STATS_PATH, Console

__all__ = ["FILES", "PREFIX", "STATS_PATH", "Console"]
