"""The policy file of ``gpuplane.vllm.Scheduler`` (path in ``GPUPLANE_POLICY``; TOML or YAML).

::

    [batching]              # BatchConfig fields: policy, w_in, w_out, preempt_priority_gap
    policy = "fair"
    [tenants.alice]         # a leaf tenant of the policy engine
    weight = 4.0            # its over-quota (fair-share) weight
    tokens_per_s = 2000     # rate limit (weighted tokens per second)
    burst_tokens = 4000
    [classes.gold]          # a priority class (extra_args priority_class = "gold")
    value = 10
    preemptible = true

The file is translated into a ``gpuplane.Policy`` and ``BatchConfig`` keywords; the core checks
every value. Unknown keys raise ``InvalidRequest`` naming them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import gpuplane
from gpuplane.errors import InvalidRequest

ENV_VAR = "GPUPLANE_POLICY"
BATCHING_KEYS = frozenset({"policy", "w_in", "w_out", "preempt_priority_gap"})
TENANT_KEYS = frozenset({"weight", "tokens_per_s", "burst_tokens", "max_queued"})
CLASS_KEYS = frozenset({"value", "preemptible"})
TOP_KEYS = frozenset({"batching", "tenants", "classes"})


@dataclass(frozen=True)
class PolicyFile:
    """A parsed policy file: ``BatchConfig`` keywords and the policy engine it describes."""

    batching: Mapping[str, Any] = field(default_factory=dict)
    tenants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    classes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def engine(self) -> gpuplane.Policy | None:
        """The ``gpuplane.Policy`` of the file's tenants and classes (None when it has neither)."""
        if not self.tenants and not self.classes:
            return None
        policy = gpuplane.Policy()
        for name, spec in self.tenants.items():
            policy.add_tenant(name, **_tenant_kwargs(spec))
        for name, spec in self.classes.items():
            policy.upsert_class(name, spec.get("value"), bool(spec.get("preemptible", True)))
        return policy


def _tenant_kwargs(spec: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"over_quota_weight": spec.get("weight", 1.0)}
    if "tokens_per_s" in spec:
        kwargs["limit"] = {"tokens_per_s": spec["tokens_per_s"]}
    for key in ("burst_tokens", "max_queued"):
        if key in spec:
            kwargs[key] = spec[key]
    return kwargs


def _table(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"policy.{name}: must be a table, got {value!r}", f"policy.{name}")
    return value


def _check_keys(where: str, table: Any, allowed: frozenset[str]) -> None:
    if not isinstance(table, Mapping):
        raise InvalidRequest(f"{where}: must be a table, got {table!r}", where)
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InvalidRequest(f"{where}.{unknown[0]}: unknown key (known: {sorted(allowed)})", where)


def parse_policy(doc: Mapping[str, Any]) -> PolicyFile:
    """A policy file from its parsed document; unknown keys raise ``InvalidRequest``."""
    _check_keys("policy", doc, TOP_KEYS)
    batching, tenants, classes = (_table(doc, k) for k in ("batching", "tenants", "classes"))
    _check_keys("policy.batching", batching, BATCHING_KEYS)
    for name, spec in tenants.items():
        _check_keys(f"policy.tenants.{name}", spec, TENANT_KEYS)
    for name, spec in classes.items():
        _check_keys(f"policy.classes.{name}", spec, CLASS_KEYS)
    return PolicyFile(dict(batching), dict(tenants), dict(classes))


def load_policy(path: str | os.PathLike[str]) -> PolicyFile:
    """Reads a TOML (``.toml``) or YAML (otherwise) policy file."""
    text = Path(path).read_text()
    try:
        doc = tomllib.loads(text) if str(path).endswith(".toml") else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
        raise InvalidRequest(f"policy file {path}: {e}", "policy") from e
    return parse_policy(doc or {})


def policy_from_env() -> PolicyFile:
    """The policy file named by ``GPUPLANE_POLICY``, or an empty one when it is unset."""
    path = os.environ.get(ENV_VAR)
    return load_policy(path) if path else PolicyFile()
