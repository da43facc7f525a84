"""Protocol-neutral use-cases: the server core, predict/classify/regress, status and metadata."""
