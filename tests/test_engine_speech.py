"""``OpenAISpeech`` against a real HTTP ``/v1/audio/speech`` that speaks with espeak-ng."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from audio_backends import TTSBackend
from speech import seconds

from openrealtime.audio.wav import WavStream
from openrealtime.engines.openai_speech import OpenAISpeech
from openrealtime.engines.tts import SpeechRequest, TTSError

TIMEOUT = 5.0
TEXT = "Hello there, this is a test."


def engine_for(backend: TTSBackend, **kwargs: Any) -> OpenAISpeech:
    return OpenAISpeech(backend.url, model="test-tts", api_key="tts-key", **kwargs)


@pytest.fixture
async def tts(tts_backend: TTSBackend) -> AsyncIterator[OpenAISpeech]:
    engine = engine_for(tts_backend)
    try:
        yield engine
    finally:
        await engine.aclose()


async def collect(engine: OpenAISpeech, text: str = TEXT, **kwargs: Any) -> list[bytes]:
    async with asyncio.timeout(TIMEOUT):
        return [c async for c in engine.synthesize(SpeechRequest(text, "alloy", **kwargs))]


async def failure(engine: OpenAISpeech, text: str = TEXT) -> tuple[list[bytes], TTSError]:
    got: list[bytes] = []
    with pytest.raises(TTSError) as info:
        async with asyncio.timeout(TIMEOUT):
            async for chunk in engine.synthesize(SpeechRequest(text, "alloy")):
                got.append(chunk)
    return got, info.value


def whole_samples(chunks: list[bytes]) -> None:
    assert chunks and all(c and len(c) % 2 == 0 for c in chunks), [len(c) for c in chunks]


# --- the request and the audio --------------------------------------------------------------


async def test_pcm_streams_the_spoken_text(tts: OpenAISpeech, tts_backend: TTSBackend) -> None:
    chunks = await collect(tts)
    whole_samples(chunks)
    assert b"".join(chunks) == tts_backend.audio_for(TEXT)
    assert 1.0 < seconds(b"".join(chunks)) < 4.0
    assert tts.sample_rate == 24000
    assert tts_backend.last == {"model": "test-tts", "input": TEXT, "voice": "alloy",
                                "speed": 1.0, "response_format": "pcm"}


async def test_voice_speed_and_instructions_are_forwarded(
        tts: OpenAISpeech, tts_backend: TTSBackend) -> None:
    fast = b"".join(await collect(tts, speed=2.0, instructions="Speak cheerfully."))
    assert tts_backend.last["speed"] == 2.0
    assert tts_backend.last["instructions"] == "Speak cheerfully."
    assert seconds(fast) < 0.7 * seconds(tts_backend.audio_for(TEXT))
    await collect(tts, speed=10.0)
    assert tts_backend.last["speed"] == 4.0
    await collect(tts, speed=0.1)
    assert tts_backend.last["speed"] == 0.25
    other = engine_for(tts_backend, voice="en-special")
    try:
        await collect(other)
    finally:
        await other.aclose()
    assert tts_backend.last["voice"] == "en-special"


async def test_first_chunk_arrives_before_the_rest_is_made(
        tts: OpenAISpeech, tts_backend: TTSBackend) -> None:
    tts_backend.flowing.clear()  # the backend stops after its first chunk until we say
    stream = tts.synthesize(SpeechRequest(TEXT, "alloy"))
    async with asyncio.timeout(TIMEOUT):
        first = await anext(stream)
    assert tts_backend.chunks_sent == 1 and tts_backend.completed == 0
    audio = tts_backend.audio_for(TEXT)
    assert first == audio[:len(first)] and 0 < len(first) <= tts_backend.chunk_bytes
    tts_backend.flowing.set()
    async with asyncio.timeout(TIMEOUT):
        rest = [c async for c in stream]
    assert first + b"".join(rest) == audio


async def test_odd_chunk_boundaries_keep_whole_samples(
        tts: OpenAISpeech, tts_backend: TTSBackend) -> None:
    tts_backend.chunk_bytes = 4801
    tts_backend.flowing.clear()
    stream = tts.synthesize(SpeechRequest(TEXT, "alloy"))
    async with asyncio.timeout(TIMEOUT):
        first = await anext(stream)
    audio = tts_backend.audio_for(TEXT)
    assert first == audio[:4800]  # the 4801st byte waits for its other half
    tts_backend.flowing.set()
    async with asyncio.timeout(TIMEOUT):
        rest = [c async for c in stream]
    whole_samples([first, *rest])
    assert first + b"".join(rest) == audio


@pytest.mark.parametrize("size", ["unknown", "zero", "exact"])
async def test_wav_with_a_streamed_header(tts_backend: TTSBackend, size: Any) -> None:
    tts_backend.wav_size = size
    tts_backend.chunk_bytes = 31  # the 44-byte header arrives in pieces
    engine = engine_for(tts_backend, response_format="wav")
    try:
        chunks = await collect(engine, "Short one.")
    finally:
        await engine.aclose()
    whole_samples(chunks)
    assert tts_backend.last["response_format"] == "wav"
    assert b"".join(chunks) == tts_backend.audio_for("Short one.")


async def test_wav_in_stereo_is_mixed_down(tts_backend: TTSBackend) -> None:
    tts_backend.wav_channels = 2
    engine = engine_for(tts_backend, response_format="wav")
    try:
        chunks = await collect(engine)
    finally:
        await engine.aclose()
    assert b"".join(chunks) == tts_backend.audio_for(TEXT)  # both channels carry the same


async def test_wav_at_another_rate_is_resampled(tts_backend: TTSBackend) -> None:
    tts_backend.wav_rate = 22050
    engine = engine_for(tts_backend, response_format="wav")
    try:
        chunks = await collect(engine)
    finally:
        await engine.aclose()
    whole_samples(chunks)
    source = tts_backend.audio_for(TEXT, rate=22050)
    assert len(b"".join(chunks)) // 2 == pytest.approx(len(source) // 2 * 24000 / 22050, abs=4)


async def test_a_wav_answer_to_a_pcm_request_is_read_as_wav(
        tts: OpenAISpeech, tts_backend: TTSBackend) -> None:
    tts_backend.modes.append("wav")
    assert b"".join(await collect(tts)) == tts_backend.audio_for(TEXT)


# --- failures -------------------------------------------------------------------------------


async def test_mp3_instead_of_pcm_is_a_bad_response(
        tts: OpenAISpeech, tts_backend: TTSBackend) -> None:
    tts_backend.modes.append("mp3")
    got, err = await failure(tts)
    assert err.code == "tts_bad_response" and "audio/mpeg" in err.message and not got


async def test_http_500_is_retried_once(tts: OpenAISpeech, tts_backend: TTSBackend) -> None:
    tts_backend.modes.extend(["500", "500"])
    got, err = await failure(tts)
    assert err.code == "tts_http_500" and "mode 500" in err.message
    assert len(tts_backend.requests) == 2 and not got
    tts_backend.modes.append("500")
    assert b"".join(await collect(tts)) == tts_backend.audio_for(TEXT)
    assert len(tts_backend.requests) == 4


async def test_http_400_is_not_retried(tts: OpenAISpeech, tts_backend: TTSBackend) -> None:
    tts_backend.modes.append("400")
    _, err = await failure(tts)
    assert err.code == "tts_http_400" and "speech failed: mode 400" in err.message
    assert len(tts_backend.requests) == 1


async def test_unreachable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = OpenAISpeech(f"http://127.0.0.1:{port}/v1")
    try:
        _, err = await failure(engine)
    finally:
        await engine.aclose()
    assert err.code == "tts_unreachable"


async def test_silence_times_out_without_a_retry(tts_backend: TTSBackend) -> None:
    tts_backend.modes.append("hang")
    engine = engine_for(tts_backend, timeout=0.3)
    try:
        _, err = await failure(engine)
    finally:
        await engine.aclose()
    assert err.code == "tts_timeout" and len(tts_backend.requests) == 1
    async with asyncio.timeout(TIMEOUT):
        await tts_backend.disconnected.wait()


async def test_a_drop_after_audio_is_not_retried(
        tts: OpenAISpeech, tts_backend: TTSBackend) -> None:
    tts_backend.modes.append("drop")
    got, err = await failure(tts)
    assert err.code == "tts_unreachable"
    assert b"".join(got) == tts_backend.audio_for(TEXT)[:tts_backend.chunk_bytes]
    assert len(tts_backend.requests) == 1


async def test_a_drop_before_any_audio_is_retried(tts_backend: TTSBackend) -> None:
    tts_backend.modes.append("drop")
    tts_backend.chunk_bytes = 20  # the first chunk is only part of the WAV header
    engine = engine_for(tts_backend, response_format="wav")
    try:
        chunks = await collect(engine, "Short one.")
    finally:
        await engine.aclose()
    assert b"".join(chunks) == tts_backend.audio_for("Short one.")
    assert len(tts_backend.requests) == 2


async def test_a_stall_after_audio_times_out(tts_backend: TTSBackend) -> None:
    tts_backend.modes.append("stall")
    engine = engine_for(tts_backend, timeout=0.3)
    try:
        got, err = await failure(engine)
    finally:
        await engine.aclose()
    assert err.code == "tts_timeout" and got and len(tts_backend.requests) == 1


async def test_closing_the_stream_hangs_up(tts: OpenAISpeech, tts_backend: TTSBackend) -> None:
    tts_backend.modes.append("stall")
    stream = tts.synthesize(SpeechRequest(TEXT, "alloy"))
    async with asyncio.timeout(TIMEOUT):
        assert await anext(stream)
        await tts_backend.hanging.wait()
        await stream.aclose()  # what a barge-in does to the task reading it
        await tts_backend.disconnected.wait()


# --- the streamed WAV reader, byte by byte ---------------------------------------------------


def wav_file(samples: np.ndarray, rate: int, *, tag: int = 1, extensible: bool = False,
             extra: bytes = b"") -> bytes:
    channels = samples.shape[1]
    bits = samples.dtype.itemsize * 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate,
                      rate * channels * bits // 8, channels * bits // 8, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + b"\0" * 14
    data = samples.astype(samples.dtype.newbyteorder("<")).tobytes()
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", 0xFFFFFFFF) + data
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + body


def read_bytewise(data: bytes) -> tuple[bytes, int]:
    reader = WavStream()
    out = b"".join(reader.feed(data[i:i + 1]) for i in range(len(data)))
    return out, reader.rate


def test_wav_reader_float_extensible_and_extra_chunks() -> None:
    mono = np.array([0, 1000, -1000, 32767, -32768], dtype=np.int16)
    expected = mono.astype("<i2").tobytes()
    as_float = (mono.astype(np.float32) / 32768).reshape(-1, 1)
    assert read_bytewise(wav_file(as_float, 16000, tag=3)) == (expected, 16000)
    stereo = np.stack([mono, mono], axis=1)
    odd_list = b"LIST" + struct.pack("<I", 3) + b"abc\0"  # padded to an even size
    assert read_bytewise(wav_file(stereo, 8000, extensible=True, extra=odd_list)) == (
        expected, 8000)


def test_wav_reader_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="RIFF"):
        WavStream().feed(b"ID3\x04" + b"\0" * 40)
    with pytest.raises(ValueError, match="unsupported"):
        WavStream().feed(wav_file(np.zeros((4, 1), dtype=np.int32), 16000))
    with pytest.raises(ValueError, match="before fmt"):
        WavStream().feed(b"RIFF\0\0\0\0WAVEdata\0\0\0\0")
