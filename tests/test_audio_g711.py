"""G.711: known table entries, an exhaustive check against audioop, and round trips."""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import pytest

from openrealtime.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

ALL_CODES = bytes(range(256))
ALL_PCM = np.arange(-32768, 32768, dtype="<i2").tobytes()


def pcm(*values: int) -> bytes:
    return np.array(values, dtype="<i2").tobytes()


def samples(data: bytes) -> list[int]:
    return [int(v) for v in np.frombuffer(data, dtype="<i2")]


def audioop() -> ModuleType:
    # audioop is the independent reference; gone from Python 3.13, deprecated before that.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pytest.importorskip("audioop")


# --- values worked out by hand from the G.711 algorithm -------------------------------------


def test_ulaw_decode_known_codes() -> None:
    # 0xFF and 0x7F are the two zeros; 0x00 / 0x80 the extremes; 0x7E the smallest negative.
    got = samples(ulaw_decode(bytes([0xFF, 0x7F, 0x00, 0x80, 0x7E, 0xFE, 0x0F, 0xF0])))
    assert got == [0, 0, -32124, 32124, -8, 8, -16764, 120]


def test_alaw_decode_known_codes() -> None:
    # A-law has no zero code: 0xD5 / 0x55 are +8 / -8 (the even bits are inverted on the line).
    got = samples(alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A, 0x80, 0x00, 0xFF, 0x7F])))
    assert got == [8, -8, 32256, -32256, 5504, -5504, 848, -848]


def test_ulaw_encode_known_values() -> None:
    got = ulaw_encode(pcm(0, 1, -1, -4, -5, 32767, -32768, 32124, -32124, 8, -8))
    assert list(got) == [0xFF, 0xFF, 0x7E, 0x7E, 0x7E, 0x80, 0x00, 0x80, 0x00, 0xFE, 0x7E]


def test_alaw_encode_known_values() -> None:
    got = alaw_encode(pcm(0, -1, 8, -8, 32767, -32768, 5504, -5504))
    assert list(got) == [0xD5, 0x55, 0xD5, 0x55, 0xAA, 0x2A, 0x80, 0x00]


def test_empty_and_odd_input() -> None:
    assert ulaw_encode(b"") == b"" == ulaw_decode(b"")
    assert alaw_encode(b"") == b"" == alaw_decode(b"")
    with pytest.raises(ValueError, match="whole samples"):
        ulaw_encode(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="whole samples"):
        alaw_encode(b"\x00")


# --- the independent reference --------------------------------------------------------------


def test_ulaw_matches_audioop_exhaustively() -> None:
    ref = audioop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert ulaw_encode(ALL_PCM) == ref.lin2ulaw(ALL_PCM, 2)
        assert ulaw_decode(ALL_CODES) == ref.ulaw2lin(ALL_CODES, 2)


def test_alaw_matches_audioop_exhaustively() -> None:
    ref = audioop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert alaw_encode(ALL_PCM) == ref.lin2alaw(ALL_PCM, 2)
        assert alaw_decode(ALL_CODES) == ref.alaw2lin(ALL_CODES, 2)


# --- round trips ----------------------------------------------------------------------------


def test_round_trips_are_stable() -> None:
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        decoded = decode(ALL_CODES)
        assert decode(encode(decoded)) == decoded
    # A-law codes all decode to distinct values, so its codes survive a round trip themselves;
    # mu-law has two zeros (0x7F and 0xFF) that both come back as 0xFF.
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES
    back = ulaw_encode(ulaw_decode(ALL_CODES))
    assert [c for c in range(256) if back[c] != c] == [0x7F]


def test_encode_is_monotonic() -> None:
    # Louder input never decodes quieter: the quantiser is a staircase.
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        levels = np.frombuffer(decode(encode(ALL_PCM)), dtype="<i2")
        assert np.all(np.diff(levels.astype(np.int32)) >= 0)
