"""Server options, flags and config files (read only by the runner and the CLI)."""
