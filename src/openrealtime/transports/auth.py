"""Who may open a session: the server's API key, presented the ways the SDKs present it."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

KEY_SUBPROTOCOL = "openai-insecure-api-key."


def offered_subprotocols(headers: Mapping[str, str]) -> list[str]:
    raw = headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def presented_keys(headers: Mapping[str, str]) -> list[str]:
    """Keys from ``Authorization: Bearer``, the browser subprotocol, or Azure's ``api-key``."""
    keys = []
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        keys.append(auth[7:].strip())
    keys += [p[len(KEY_SUBPROTOCOL):] for p in offered_subprotocols(headers)
             if p.startswith(KEY_SUBPROTOCOL)]
    if "api-key" in headers:
        keys.append(headers["api-key"])
    return keys


def authorized(headers: Mapping[str, str], api_key: str | None) -> bool:
    if api_key is None:
        return True
    expected = api_key.encode()
    return any(hmac.compare_digest(k.encode(), expected) for k in presented_keys(headers))
