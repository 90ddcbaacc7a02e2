"""Bearer tokens: who a token belongs to.

A tokens file (YAML or JSON) maps each token to ``admin``, ``agent`` (a ``gpuplane agent``:
node telemetry only) or a tenant name. The admin token may also be given on its own
(``ServeConfig.admin_token``). Tokens are kept only as SHA-256 digests and looked up by digest,
so lookups reveal nothing about a token through timing.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpuplane.daemon.hooks import ADMIN, Principal

AGENT = "agent"
MIN_TOKEN_CHARS = 16
ADMIN_TOKEN_ENV = "GPUPLANE_ADMIN_TOKEN"
TOKENS_FILE_ENV = "GPUPLANE_TOKENS_FILE"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def principal_for(role: str) -> Principal:
    """The principal of a token whose role is ``role`` (``admin``, ``agent`` or a tenant)."""
    if role == ADMIN:
        return Principal(name=ADMIN, admin=True)
    if role == AGENT:
        return Principal(name=AGENT)
    return Principal(name=role, tenant=role)


class Tokens:
    """The known tokens and their principals."""

    def __init__(self, roles: Mapping[str, str]):
        for token, role in roles.items():
            _check_entry(token, role)
        self._by_digest = {_digest(t): principal_for(r) for t, r in roles.items()}

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, token: str) -> Principal | None:
        """The principal of ``token``, or ``None`` if the token is unknown."""
        return self._by_digest.get(_digest(token))

    @classmethod
    def load(cls, tokens_file: Path | None, admin_token: str | None) -> Tokens:
        """The tokens of a tokens file (if any) plus the admin token (if any)."""
        roles = parse_tokens_file(tokens_file) if tokens_file is not None else {}
        if admin_token:
            roles[admin_token] = ADMIN
        return cls(roles)


def _check_entry(token: Any, role: Any) -> None:
    if not isinstance(token, str) or not isinstance(role, str) or not role:
        raise ValueError("tokens: each entry maps a token (a string) to 'admin', 'agent' or a tenant name")
    if len(token) < MIN_TOKEN_CHARS or token != token.strip():
        raise ValueError(f"tokens: a token for {role!r} is shorter than {MIN_TOKEN_CHARS} characters")


def private_text(path: Path) -> str:
    """The text of a secrets file; ``ValueError`` when other users may read or write it."""
    path = Path(path)
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} holds secrets but other users may read it; chmod 600 {path}")
    return path.read_text()


def read_secret(path: Path) -> str:
    """A token kept alone in a private file (surrounding whitespace dropped)."""
    token = private_text(path).strip()
    if not token:
        raise ValueError(f"{path}: the file is empty")
    return token


def parse_tokens_file(path: Path) -> dict[str, str]:
    """Reads a private tokens file: a mapping ``token: role`` (``.json``, else YAML)."""
    path = Path(path)
    text = private_text(path)
    if path.suffix == ".json":
        doc = json.loads(text)
    else:
        import yaml

        doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: a tokens file maps each token to 'admin', 'agent' or a tenant")
    return {str(k) if isinstance(k, int) else k: v for k, v in doc.items()}
