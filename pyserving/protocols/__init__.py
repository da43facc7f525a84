"""Frontends: REST and gRPC. Each imports serving and apis, never core internals or backends."""
