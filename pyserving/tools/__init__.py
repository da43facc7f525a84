"""Offline tools behind the CLI: ``pyserving inspect`` (inspect_model) and ``pyserving warmup`` (warmup_file)."""
