"""The router's settings (``RequestRouterConfig.request_router_kwargs``), checked in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from gpuplane.errors import InvalidRequest

ROUTER_CLASS = "gpuplane.ray:Router"
STATES = ("shared", "local")


@dataclass(frozen=True)
class RouterSettings:
    """``block_size``: tokens per KV block of the replicas (the prompt is hashed at it; a
    replica reporting another size is refused). ``state``: ``shared`` (one named actor holds the
    core Router for every handle and proxy) or ``local`` (each router instance holds its own,
    fed by the same replica stats). ``state_name``: the named actor (one per deployment when
    empty)."""

    block_size: int = 16
    state: str = "shared"
    state_name: str = ""

    @classmethod
    def parse(cls, kwargs: Mapping[str, Any]) -> RouterSettings:
        """The settings from router kwargs; ``InvalidRequest`` naming a bad or unknown key."""
        known = {f.name for f in fields(cls)}
        for key in kwargs:
            if key not in known:
                raise InvalidRequest(
                    f"request_router_kwargs: unknown key {key!r} (known: {sorted(known)})", key, "unknown"
                )
        s = cls(**kwargs)
        if not isinstance(s.block_size, int) or isinstance(s.block_size, bool) or s.block_size < 1:
            raise InvalidRequest(f"block_size: must be an int >= 1, got {s.block_size!r}", "block_size")
        if s.state not in STATES:
            raise InvalidRequest(f"state: must be one of {STATES}, got {s.state!r}", "state")
        return s


def router_config(**kwargs: Any) -> Any:
    """A Serve ``RequestRouterConfig`` for :class:`gpuplane.ray.Router`; the router kwargs are
    checked here, at deploy time, with the same rules the router applies."""
    from ray.serve.config import RequestRouterConfig

    period = kwargs.pop("request_routing_stats_period_s", 1.0)
    settings = RouterSettings.parse(kwargs)
    return RequestRouterConfig(
        request_router_class=ROUTER_CLASS,
        request_router_kwargs={f.name: getattr(settings, f.name) for f in fields(settings)},
        request_routing_stats_period_s=period,
    )
