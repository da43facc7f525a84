"""Lifecycle kernel: ids, states, errors, loaders, the manager. Standard library only."""
