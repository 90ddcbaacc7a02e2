"""The gpuplane placement service (``gpuplane serve``): a thin gRPC layer over the Rust core.

The daemon converts protobuf messages to core types, journals every acknowledged mutation to
SQLite, authenticates callers and observes decisions; every decision is made by the core.
"""
