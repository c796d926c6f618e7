"""Ephemeral ``ek_`` keys: stateless signed tokens that pin a session configuration.

A key is ``ek_<payload>.<mac>``: the payload is the zlib-compressed JSON of ``KeyClaims``, the
mac an HMAC-SHA256 of the payload text, both base64url without padding. Nothing is stored, so
every replica that shares the signing secret accepts every other's keys, and a key stays usable
for any number of sessions until it expires (as OpenAI's client secrets do). Pure: the caller
passes the clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import zlib
from typing import Any, Literal

import msgspec

PREFIX = "ek_"
DEFAULT_TTL_S = 600
MIN_TTL_S = 10
MAX_TTL_S = 7200
# ``Authorization: Bearer ek_…`` must fit aiohttp's default 8190-byte header field, with room
# for the ``openai-insecure-api-key.`` subprotocol form next to ``realtime``.
MAX_KEY_CHARS = 8000
_FORMAT = 1
_DERIVE_LABEL = b"openrealtime ephemeral key secret v1"

SessionType = Literal["realtime", "transcription"]


class KeyClaims(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a key grants: one session type, its pinned configuration, until ``exp``."""

    exp: int
    type: SessionType = "realtime"
    session: dict[str, Any] | None = None
    """The pinned configuration in its GA ``session.update`` form (``type`` included)."""
    v: int = _FORMAT
    nonce: str = ""


class InvalidKey(Exception):
    """A key that is not one of ours, was altered, or has expired (the message says which)."""


_encoder = msgspec.json.Encoder()
_claims_decoder = msgspec.json.Decoder(KeyClaims)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_secret(configured: str | None, api_key: str | None) -> bytes:
    """The secret to sign with: the configured one; else derived from the API key, so replicas
    that share an API key share keys; else random, so keys die with the process."""
    if configured:
        return configured.encode()
    if api_key:
        return hmac.new(api_key.encode(), _DERIVE_LABEL, hashlib.sha256).digest()
    return secrets.token_bytes(32)


class KeySigner:
    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the ephemeral key secret must not be empty")
        self._secret = secret

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())

    def mint(self, claims: KeyClaims) -> str:
        """The key for ``claims``; a fresh nonce makes every key distinct."""
        claims = msgspec.structs.replace(claims, nonce=_b64(secrets.token_bytes(9)))
        payload = _b64(zlib.compress(_encoder.encode(claims), 9))
        return f"{PREFIX}{payload}.{self._mac(payload)}"

    def verify(self, key: str, now: float) -> KeyClaims:
        """The claims of a valid, unexpired key, or ``InvalidKey``."""
        if not key.startswith(PREFIX) or len(key) > MAX_KEY_CHARS or not key.isascii():
            raise InvalidKey("This is not an ephemeral key issued by this server.")
        payload, _, mac = key[len(PREFIX):].partition(".")
        # The signature is checked before anything is decompressed or parsed.
        if not hmac.compare_digest(self._mac(payload).encode(), mac.encode()):
            raise InvalidKey("The ephemeral key's signature does not match: it was altered, "
                             "or issued by a server with a different signing secret.")
        try:
            claims = _claims_decoder.decode(zlib.decompress(_unb64(payload)))
        except (binascii.Error, ValueError, zlib.error, msgspec.DecodeError):
            raise InvalidKey("The ephemeral key is malformed.") from None
        if claims.v != _FORMAT:
            raise InvalidKey(f"The ephemeral key has an unsupported format ({claims.v}).")
        if now >= claims.exp:
            raise InvalidKey(f"The ephemeral key expired at {claims.exp} (unix time).")
        return claims
