"""Who may open a session: the server's API key or an ephemeral ``ek_`` key, presented the
ways the SDKs present them."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

import msgspec

from ..protocol.session_types import SessionConfig
from .keys import PREFIX, InvalidKey, KeyClaims, KeySigner

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


def admit(
    headers: Mapping[str, str], api_key: str | None, keys: KeySigner | None, now: float
) -> KeyClaims | None:
    """The claims of the ephemeral key presented, None for the API key (or an open server);
    ``InvalidKey`` when neither admits. A presented ``ek_`` key must be valid even on an open
    server: the client expects its pinned configuration, not a silent default."""
    if keys is not None:
        ephemeral = [k for k in presented_keys(headers) if k.startswith(PREFIX)]
        if ephemeral:
            return keys.verify(ephemeral[0], now)
    if authorized(headers, api_key):
        return None
    raise InvalidKey("Incorrect API key provided.")


def pinned_config(claims: KeyClaims | None) -> SessionConfig | None:
    """The session configuration a key pins (checked when it was minted)."""
    if claims is None or claims.session is None:
        return None
    try:
        config: SessionConfig = msgspec.convert(claims.session, SessionConfig)
    except msgspec.ValidationError:  # minted by a server version that configured differently
        raise InvalidKey("The ephemeral key's session configuration is not valid here.") from None
    return config
