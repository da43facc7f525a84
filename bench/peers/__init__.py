"""Reference peers for ``bench/run.py``: small servers, each runnable alone with ``--port``."""
