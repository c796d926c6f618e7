"""The espeak speech engine: Realtime voices, speed, streaming, abort, concurrency, errors."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import numpy as np
import pytest

from openrealtime.engines import espeak
from openrealtime.engines.espeak_tts import REALTIME_VOICES, EspeakSynthesizer
from openrealtime.engines.loading import EngineLoadError
from openrealtime.engines.tts import SpeechRequest, TTSError

TIMEOUT = 10.0
RATE = 22050
TEXT = "Hello there, how are you doing today? I hope the weather is nice."
# About a minute of speech: espeak needs a good part of a second to make it all.
LONG = " ".join(f"This is sentence number {n}, and it goes on for a little while."
                for n in range(1, 21))


@pytest.fixture
async def tts() -> AsyncIterator[EspeakSynthesizer]:
    engine = EspeakSynthesizer()
    yield engine
    await engine.aclose()


async def speak(tts: EspeakSynthesizer, text: str, voice: str = "alloy",
                speed: float = 1.0) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [c async for c in tts.synthesize(SpeechRequest(text, voice, speed))]
    return await asyncio.wait_for(collect(), TIMEOUT)


def seconds(pcm: bytes) -> float:
    return len(pcm) / 2 / RATE


def features(pcm: bytes) -> tuple[float, float, float]:
    """(duration s, spectral centroid Hz, median pitch Hz): what tells espeak's voices apart.
    espeak jitters from run to run, but by well under 1% in each."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x))
    centroid = float((spectrum * np.fft.rfftfreq(len(x), 1 / RATE)).sum() / spectrum.sum())
    frame, lo, hi = int(0.04 * RATE), RATE // 400, RATE // 60
    pitches = []
    for i in range(0, len(x) - frame, frame):
        w = x[i:i + frame]
        if np.abs(w).max() < 2000:
            continue  # a pause: no pitch to measure
        w = w - w.mean()
        ac = np.correlate(w, w, "full")[frame - 1:]
        pitches.append(RATE / (lo + int(np.argmax(ac[lo:hi]))))
    return seconds(pcm), centroid, float(np.median(pitches))


async def test_every_realtime_voice_speaks_with_its_own_voice(tts: EspeakSynthesizer) -> None:
    assert tts.name == "espeak" and tts.sample_rate == RATE
    assert len(REALTIME_VOICES) == 10
    measured = {}
    for name, voice in REALTIME_VOICES.items():
        pcm = b"".join(await speak(tts, TEXT, name))
        assert len(pcm) % 2 == 0 and 2.0 < seconds(pcm) < 6.0, name
        assert np.abs(np.frombuffer(pcm, dtype="<i2")).max() > 3000, name  # speech, not hiss
        measured[name] = features(pcm)
        pitch = measured[name][2]
        # The character of the OpenAI voice: female voices speak well above male ones.
        if voice.character.startswith("female"):
            assert pitch > 140, (name, pitch)
        elif voice.character.startswith("male"):
            assert pitch < 125, (name, pitch)
    for (a, fa), (b, fb) in itertools.combinations(measured.items(), 2):
        differs = max(abs(x - y) / max(x, y) for x, y in zip(fa, fb, strict=True))
        assert differs > 0.02, f"{a} and {b} sound alike: {fa} vs {fb}"


async def test_unknown_names_speak_as_alloy_and_case_does_not_matter(
        tts: EspeakSynthesizer) -> None:
    alloy = features(b"".join(await speak(tts, TEXT, "alloy")))
    for name in ("nova", "ALLOY", " alloy "):
        other = features(b"".join(await speak(tts, TEXT, name)))
        assert other == pytest.approx(alloy, rel=0.01), name
    coral = features(b"".join(await speak(tts, TEXT, "Coral")))
    assert coral[2] > 1.5 * alloy[2]


async def test_speed_scales_the_rate(tts: EspeakSynthesizer) -> None:
    normal = seconds(b"".join(await speak(tts, TEXT)))
    slow = seconds(b"".join(await speak(tts, TEXT, speed=0.5)))
    fast = seconds(b"".join(await speak(tts, TEXT, speed=1.5)))
    assert slow > 1.5 * normal
    assert fast < 0.8 * normal


async def test_a_long_text_streams_in_pieces(tts: EspeakSynthesizer) -> None:
    chunks = await speak(tts, LONG, "marin")
    # Pieces that arrive while the queue is drained go out together, so a second chunk means
    # the first went out before espeak had made the rest.
    assert len(chunks) > 1
    assert all(c and len(c) % 2 == 0 for c in chunks)
    whole, rate = await asyncio.to_thread(espeak.synthesize, LONG, "en-us+f3", 165, 50)
    assert seconds(b"".join(chunks)) == pytest.approx(seconds(whole), rel=0.02)
    assert seconds(b"".join(chunks)) > 40


async def test_a_consumer_that_stops_releases_espeak_at_once(tts: EspeakSynthesizer) -> None:
    stream = tts.synthesize(SpeechRequest(LONG, "echo"))
    first = await asyncio.wait_for(anext(stream), TIMEOUT)
    assert 0 < seconds(first) < 40
    await asyncio.wait_for(stream.aclose(), TIMEOUT)
    # aclose waited for the synthesis thread to end (espeak stopped at its next piece).
    assert not espeak._lock.locked()
    again = await speak(tts, TEXT, "echo")
    assert 2.0 < seconds(b"".join(again)) < 6.0



async def test_closing_the_stream_stops_espeak_rather_than_waiting_for_it(
        tts: EspeakSynthesizer) -> None:
    text = " ".join([LONG] * 5)  # six minutes of speech: espeak needs a good part of a second
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert seconds(b"".join(await speak(tts, text, "verse"))) > 300
    whole = loop.time() - started

    started = loop.time()
    stream = tts.synthesize(SpeechRequest(text, "verse"))
    await asyncio.wait_for(anext(stream), TIMEOUT)
    await asyncio.wait_for(stream.aclose(), TIMEOUT)
    assert loop.time() - started < whole / 3, (loop.time() - started, whole)


@pytest.mark.parametrize("closing", [True, False])
async def test_a_cancelled_consumer_releases_espeak(tts: EspeakSynthesizer,
                                                    closing: bool) -> None:
    got_one = asyncio.Event()

    async def listen() -> None:
        stream = tts.synthesize(SpeechRequest(LONG, "sage"))
        async with contextlib.aclosing(stream) if closing else contextlib.nullcontext(stream):
            async for _ in stream:
                got_one.set()
                await asyncio.Event().wait()  # a client that stops reading

    task = asyncio.create_task(listen())
    await asyncio.wait_for(got_one.wait(), TIMEOUT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    if closing:  # closed with the task; otherwise when the loop finalizes the generator
        assert not espeak._lock.locked()
    assert 2.0 < seconds(b"".join(await speak(tts, TEXT, "sage"))) < 6.0


async def test_concurrent_syntheses_each_get_their_own_audio(tts: EspeakSynthesizer) -> None:
    jobs = [(" ".join(["banana"] * n), voice) for n in (1, 4, 12)
            for voice in ("alloy", "coral", "cedar")]
    alone = [seconds(b"".join(await speak(tts, text, voice))) for text, voice in jobs]

    async def slowly(text: str, voice: str) -> bytes:
        out = b""
        async for chunk in tts.synthesize(SpeechRequest(text, voice)):
            out += chunk
            await asyncio.sleep(0)  # let the others interleave with this one
        return out

    together = await asyncio.wait_for(
        asyncio.gather(*(slowly(text, voice) for text, voice in jobs)), TIMEOUT)
    for job, pcm, expected in zip(jobs, together, alone, strict=True):
        assert seconds(pcm) == pytest.approx(expected, rel=0.03), job


async def test_empty_text_is_no_audio(tts: EspeakSynthesizer) -> None:
    assert await speak(tts, "") == []
    assert await speak(tts, "  \n\t ") == []


async def test_a_forced_voice_speaks_every_request() -> None:
    tts = EspeakSynthesizer(voice="en-us+f2")
    try:
        for name in ("alloy", "echo", "anything"):
            pitch = features(b"".join(await speak(tts, TEXT, name)))[2]
            assert pitch > 150, name  # f2 is a female variant, whatever the client asked for
        german = EspeakSynthesizer(voice="de")
        assert await speak(german, "Guten Tag")
        await german.aclose()
    finally:
        await tts.aclose()


@pytest.mark.parametrize("voice", ["no-such-voice", "en-us+nope"])
def test_an_unknown_forced_voice_fails_to_load(voice: str) -> None:
    with pytest.raises(EngineLoadError) as err:
        EspeakSynthesizer(voice=voice)
    message = str(err.value)
    assert voice in message and "en-us+f2" in message and "\n" not in message


async def test_a_closed_engine_refuses_work() -> None:
    tts = EspeakSynthesizer()
    assert await speak(tts, "hello")
    await tts.aclose()
    with pytest.raises(TTSError) as err:
        await speak(tts, "hello")
    assert err.value.code == "tts_engine_error"
