"""Identifier generation.

OpenAI ids look like ``event_`` + 21 base62 characters. Clients treat them as opaque, so we keep
the prefixes (``item_``, ``resp_``, ``call_``…) and make the body cheap: a random per-generator
stem plus a counter. That keeps ids unique without calling the OS random source per event, which
matters because every delta carries a fresh ``event_id``.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.digits + string.ascii_letters


def _base62(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def random_token(length: int) -> str:
    """A cryptographically random base62 token (for session ids and secrets)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class IdGenerator:
    """Makes prefixed unique ids: ``<prefix>_<stem><counter>``."""

    __slots__ = ("_stem", "_counter")

    def __init__(self, stem: str | None = None) -> None:
        self._stem = stem if stem is not None else random_token(12)
        self._counter = 0

    def new(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._stem}{_base62(self._counter)}"

    def event(self) -> str:
        self._counter += 1
        return f"event_{self._stem}{_base62(self._counter)}"
