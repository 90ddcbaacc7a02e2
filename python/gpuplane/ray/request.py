"""What a request carries to the router: its tenant, its prompt and its adapter.

The tenant travels in the request itself, so every handle and proxy sees it without extra
plumbing: the first positional argument (or a ``request`` keyword) is a :class:`Request`, or any
object or dict with a ``tenant`` field. The prompt is its ``prompt_token_ids`` (token ids) or
its ``prompt`` (text or token ids), the field Ray's ``PrefixCacheAffinityRouter`` reads too.
The LoRA adapter is Serve's multiplexed model id
(``handle.options(multiplexed_model_id="lora-a")``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Request:
    """A generation request as a Serve deployment receives it and the router reads it."""

    prompt: str | tuple[int, ...]
    tenant: str = DEFAULT_TENANT
    max_tokens: int = 16

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            object.__setattr__(self, "prompt", tuple(self.prompt))


@dataclass(frozen=True)
class RequestFields:
    """The parts of a request the router uses."""

    tenant: str
    prompt: str | Sequence[int]
    adapter: str


def _field(obj: object, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _carrier(args: Sequence[Any], kwargs: Mapping[str, Any]) -> object:
    if "request" in kwargs:
        return kwargs["request"]
    return args[0] if args else None


def request_fields(args: Sequence[Any], kwargs: Mapping[str, Any], adapter: str) -> RequestFields:
    """Reads tenant and prompt from a request's arguments (see the module docstring)."""
    obj = _carrier(args, kwargs)
    tenant = _field(obj, "tenant") or DEFAULT_TENANT
    prompt = _field(obj, "prompt_token_ids")
    if prompt is None:
        prompt = _field(obj, "prompt")
    return RequestFields(str(tenant), prompt if prompt is not None else "", adapter or "")


def prompt_length(prompt: str | Sequence[int]) -> int:
    """Prompt tokens as the router hashes them: token ids, or a text's UTF-8 bytes."""
    return len(prompt.encode()) if isinstance(prompt, str) else len(prompt)
