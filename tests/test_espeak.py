"""espeak-ng through ctypes: real audio, plausible length, safe from many threads at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from openrealtime.engines import espeak

SENTENCE = "The quick brown fox jumps over the lazy dog."


def seconds(pcm: bytes, rate: int) -> float:
    return len(pcm) / 2 / rate


def test_speaks_a_sentence() -> None:
    pcm, rate = espeak.synthesize(SENTENCE)
    assert rate == espeak.sample_rate() == 22050
    assert len(pcm) % 2 == 0
    # Nine words at 175 wpm: about three seconds, give or take espeak's pauses.
    assert 1.5 < seconds(pcm, rate) < 5.0
    samples = np.frombuffer(pcm, dtype="<i2")
    assert int(np.abs(samples).max()) > 3000  # speech, not silence


def test_rate_changes_duration_and_does_not_stick() -> None:
    normal, rate = espeak.synthesize(SENTENCE)
    fast, _ = espeak.synthesize(SENTENCE, rate_wpm=350)
    assert seconds(fast, rate) < 0.7 * seconds(normal, rate)
    again, _ = espeak.synthesize(SENTENCE)
    # espeak varies a little between runs (its voices add jitter), so compare lengths.
    assert seconds(again, rate) == pytest.approx(seconds(normal, rate), rel=0.05)


def test_pitch_and_voice() -> None:
    low, _ = espeak.synthesize("hello", pitch=10)
    high, _ = espeak.synthesize("hello", pitch=90)
    assert low != high
    german, _ = espeak.synthesize("Guten Tag", voice="de")
    assert german
    with pytest.raises(espeak.EspeakError, match="no voice"):
        espeak.synthesize("hello", voice="no-such-voice")
    assert espeak.synthesize("hello")[0]  # a refused voice leaves the engine usable


def test_list_voices() -> None:
    voices = espeak.list_voices()
    assert any("en" in v.languages or v.identifier.endswith("/en") for v in voices)
    assert all(v.identifier for v in voices)


def test_concurrent_calls_get_their_own_audio() -> None:
    # Texts of very different lengths: audio mixed between calls would show in the lengths.
    texts = [" ".join(["banana"] * n) for n in (1, 3, 6, 10)]
    rates = [150, 175, 250, 350]
    jobs = [(t, r) for t in texts for r in rates] * 2
    expected = {job: len(espeak.synthesize(job[0], rate_wpm=job[1])[0]) for job in jobs}
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda job: espeak.synthesize(job[0], rate_wpm=job[1])[0], jobs))
    for job, pcm in zip(jobs, got, strict=True):
        assert len(pcm) == pytest.approx(expected[job], rel=0.05), job


def test_stream_hands_over_pieces_and_stops_when_told() -> None:
    whole, rate = espeak.synthesize(SENTENCE)
    pieces: list[bytes] = []

    def keep(pcm: bytes) -> bool:
        pieces.append(pcm)
        return True

    assert espeak.stream(SENTENCE, keep)
    assert len(pieces) > 10 and all(len(p) % 2 == 0 for p in pieces)  # 60 ms each
    assert len(b"".join(pieces)) == pytest.approx(len(whole), rel=0.05)

    pieces.clear()

    def keep_three(pcm: bytes) -> bool:
        pieces.append(pcm)
        return len(pieces) < 3

    assert not espeak.stream(SENTENCE, keep_three)
    assert len(pieces) == 3  # no piece after the one that said stop
    # A stopped synthesis leaves nothing behind for the next one.
    assert seconds(espeak.synthesize(SENTENCE)[0], rate) == pytest.approx(
        seconds(whole, rate), rel=0.05)


def test_stream_raises_what_its_callback_raised() -> None:
    def refuse(_pcm: bytes) -> bool:
        raise ValueError("no thanks")

    with pytest.raises(ValueError, match="no thanks"):
        espeak.stream(SENTENCE, refuse)
    assert espeak.synthesize("hello")[0]


def test_has_voice_checks_the_voice_and_its_variant() -> None:
    variants = espeak.list_variants()
    assert {"m1", "m3", "f2", "f5"} <= set(variants)
    assert espeak.has_voice("en-us") and espeak.has_voice("en-us+f2")
    assert espeak.has_voice("de") and espeak.has_voice("gmw/en-US")
    # espeak itself would speak these (it ignores an unknown variant), so check them here.
    assert not espeak.has_voice("en-us+nope")
    assert not espeak.has_voice("no-such-voice")
    assert espeak.synthesize("hello", voice="en-us+m3")[0]
