"""Ephemeral keys: signed, stateless, expiring; accepted by any replica sharing the secret."""

from __future__ import annotations

import base64
import zlib

import msgspec
import pytest

from openrealtime.transports.auth import admit, pinned_config
from openrealtime.transports.keys import (
    MAX_KEY_CHARS,
    PREFIX,
    InvalidKey,
    KeyClaims,
    KeySigner,
    signing_secret,
)

NOW = 1_700_000_000.0
PINNED = {"type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"]}


@pytest.fixture
def signer() -> KeySigner:
    return KeySigner(b"shared-secret")


def test_a_key_carries_its_claims(signer: KeySigner) -> None:
    key = signer.mint(KeyClaims(exp=int(NOW) + 600, session=PINNED))
    assert key.startswith(PREFIX)
    claims = signer.verify(key, NOW)
    assert (claims.exp, claims.type, claims.session) == (int(NOW) + 600, "realtime", PINNED)


def test_keys_are_distinct_for_the_same_claims(signer: KeySigner) -> None:
    claims = KeyClaims(exp=int(NOW) + 600)
    assert signer.mint(claims) != signer.mint(claims)


def test_expiry_follows_the_clock(signer: KeySigner) -> None:
    key = signer.mint(KeyClaims(exp=int(NOW) + 10))
    signer.verify(key, NOW + 9.9)
    with pytest.raises(InvalidKey, match="expired"):
        signer.verify(key, NOW + 10)


def test_a_replica_with_the_same_secret_accepts_the_key(signer: KeySigner) -> None:
    key = signer.mint(KeyClaims(exp=int(NOW) + 60, type="transcription"))
    assert KeySigner(b"shared-secret").verify(key, NOW).type == "transcription"
    with pytest.raises(InvalidKey, match="different signing secret"):
        KeySigner(b"other-secret").verify(key, NOW)


def _payload(claims: dict[str, object]) -> str:
    raw = zlib.compress(msgspec.json.encode(claims))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_tampered_payload_is_refused(signer: KeySigner) -> None:
    key = signer.mint(KeyClaims(exp=int(NOW) + 60, session=PINNED))
    _, mac = key[len(PREFIX):].split(".")
    # Longer life and another configuration under the original signature.
    forged = f"{PREFIX}{_payload({'exp': int(NOW) + 10**6, 'session': None})}.{mac}"
    with pytest.raises(InvalidKey, match="signature"):
        signer.verify(forged, NOW)


def test_a_tampered_signature_is_refused(signer: KeySigner) -> None:
    key = signer.mint(KeyClaims(exp=int(NOW) + 60))
    flipped = key[:-1] + ("A" if key[-1] != "A" else "B")
    with pytest.raises(InvalidKey):
        signer.verify(flipped, NOW)


@pytest.mark.parametrize("garbage", [
    "", "ek_", "ek_.", "ek_abc", "ek_abc.def", "sk-not-ephemeral", "ek_\u00e9.\u00e9",
    "ek_" + "A" * MAX_KEY_CHARS,
])
def test_garbage_is_refused(signer: KeySigner, garbage: str) -> None:
    with pytest.raises(InvalidKey):
        signer.verify(garbage, NOW)


def test_a_signed_payload_that_is_not_claims_is_refused(signer: KeySigner) -> None:
    # Only reachable with the secret; still never more than InvalidKey.
    payload = _payload({"exp": "soon"})
    key = f"{PREFIX}{payload}.{signer._mac(payload)}"
    with pytest.raises(InvalidKey, match="malformed"):
        signer.verify(key, NOW)


def test_the_secret_is_configured_derived_or_random() -> None:
    assert signing_secret("configured", "api") == b"configured"
    derived = signing_secret(None, "api-key")
    assert derived == signing_secret(None, "api-key") != signing_secret(None, "other-key")
    assert b"api-key" not in derived  # the API key itself is never the signing secret
    assert signing_secret(None, None) != signing_secret(None, None)
    with pytest.raises(ValueError):
        KeySigner(b"")


def test_admission_by_api_key_or_ephemeral_key(signer: KeySigner) -> None:
    key = signer.mint(KeyClaims(exp=int(NOW) + 60, session=PINNED))
    by_key = admit({"Authorization": f"Bearer {key}"}, "api", signer, NOW)
    assert by_key is not None and by_key.session == PINNED
    offered = {"Sec-WebSocket-Protocol": f"realtime, openai-insecure-api-key.{key}"}
    assert admit(offered, "api", signer, NOW) is not None
    assert admit({"Authorization": "Bearer api"}, "api", signer, NOW) is None
    assert admit({}, None, signer, NOW) is None  # an open server
    with pytest.raises(InvalidKey):
        admit({"Authorization": "Bearer wrong"}, "api", signer, NOW)
    # An ek_ key must be valid even where no key is needed: its config was promised.
    with pytest.raises(InvalidKey, match="expired"):
        admit({"Authorization": f"Bearer {key}"}, None, signer, NOW + 60)


def test_the_pinned_config_comes_back_typed(signer: KeySigner) -> None:
    claims = signer.verify(signer.mint(KeyClaims(exp=int(NOW) + 60, session=PINNED)), NOW)
    config = pinned_config(claims)
    assert msgspec.to_builtins(config) == PINNED
    assert pinned_config(KeyClaims(exp=0)) is None
    with pytest.raises(InvalidKey):
        pinned_config(KeyClaims(exp=0, session={"type": "realtime", "bogus": 1}))
