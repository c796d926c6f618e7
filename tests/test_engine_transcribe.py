"""``OpenAITranscriber`` against a real HTTP ``/v1/audio/transcriptions`` that reads the WAV."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from audio_backends import ASRBackend
from speech import speech_pcm

from openrealtime.engines.openai_transcribe import OpenAITranscriber
from openrealtime.engines.stt import (
    STTError,
    TranscriptChunk,
    TranscriptDelta,
    TranscriptDone,
    TranscriptionRequest,
)

TIMEOUT = 5.0
SPOKEN = "Testing one two three."


def audio(rate: int = 16000) -> bytes:
    return speech_pcm(SPOKEN, rate=rate)


def request(model: str = "whisper-1", rate: int = 16000, **kwargs: Any) -> TranscriptionRequest:
    return TranscriptionRequest(audio(rate), rate, model, **kwargs)


def engine_for(backend: ASRBackend, **kwargs: Any) -> OpenAITranscriber:
    return OpenAITranscriber(backend.url, api_key="stt-key", **kwargs)


@pytest.fixture
async def stt(asr_backend: ASRBackend) -> AsyncIterator[OpenAITranscriber]:
    engine = engine_for(asr_backend)
    try:
        yield engine
    finally:
        await engine.aclose()


async def collect(engine: OpenAITranscriber, req: TranscriptionRequest) -> list[TranscriptChunk]:
    async with asyncio.timeout(TIMEOUT):
        return [chunk async for chunk in engine.transcribe(req)]


async def failure(engine: OpenAITranscriber,
                  req: TranscriptionRequest) -> tuple[list[TranscriptChunk], STTError]:
    got: list[TranscriptChunk] = []
    with pytest.raises(STTError) as info:
        async with asyncio.timeout(TIMEOUT):
            async for chunk in engine.transcribe(req):
                got.append(chunk)
    return got, info.value


def seconds(rate: int = 16000) -> float:
    return len(audio(rate)) / 2 / rate


# --- the upload -----------------------------------------------------------------------------


async def test_json_transcription(stt: OpenAITranscriber, asr_backend: ASRBackend) -> None:
    chunks = await collect(stt, request())
    usage = asr_backend.usage_sent[-1]
    assert chunks == [TranscriptDone("hello there", seconds(), usage["input_tokens"], 2)]
    up = asr_backend.last
    assert up.fields == {"model": "whisper-1", "response_format": "json"}
    assert (up.filename, up.content_type) == ("audio.wav", "audio/wav")
    assert (up.rate, up.channels, up.sample_width) == (16000, 1, 2)
    assert up.pcm == audio()
    assert stt.sample_rate == 16000


async def test_the_wav_keeps_the_requests_rate(
        stt: OpenAITranscriber, asr_backend: ASRBackend) -> None:
    done = (await collect(stt, request(rate=24000)))[-1]
    assert asr_backend.last.rate == 24000 and asr_backend.last.pcm == audio(24000)
    assert isinstance(done, TranscriptDone)
    assert done.duration_s == pytest.approx(asr_backend.last.seconds)
    assert done.duration_s == pytest.approx(seconds(16000), abs=0.01)


async def test_language_prompt_and_model(asr_backend: ASRBackend) -> None:
    engine = engine_for(asr_backend, model="Systran/faster-whisper-small")
    try:
        await collect(engine, request(language="fr", prompt="Numbers."))
    finally:
        await engine.aclose()
    assert asr_backend.last.fields == {"model": "Systran/faster-whisper-small",
                                       "response_format": "json", "language": "fr",
                                       "prompt": "Numbers."}


async def test_a_scripted_transcript(stt: OpenAITranscriber, asr_backend: ASRBackend) -> None:
    asr_backend.transcribe = lambda up: f"{up.seconds:.1f} seconds at {up.rate}"
    asr_backend.answers.append("first answer")
    first, second = await collect(stt, request()), await collect(stt, request())
    tokens = asr_backend.usage_sent[0]["input_tokens"]
    assert first[-1] == TranscriptDone("first answer", seconds(), tokens, 2)
    assert isinstance(second[-1], TranscriptDone)
    assert second[-1].text == f"{seconds():.1f} seconds at 16000"


@pytest.mark.parametrize("usage", ["duration", "none"])
async def test_usage_without_tokens_is_duration(
        stt: OpenAITranscriber, asr_backend: ASRBackend, usage: Any) -> None:
    asr_backend.usage = usage
    assert await collect(stt, request()) == [TranscriptDone("hello there", seconds())]


# --- streaming ------------------------------------------------------------------------------


async def test_gpt4o_models_stream(stt: OpenAITranscriber, asr_backend: ASRBackend) -> None:
    asr_backend.answers.append("Testing one two three.")
    chunks = await collect(stt, request("gpt-4o-transcribe"))
    assert asr_backend.last.stream
    assert chunks[:-1] == [TranscriptDelta(w) for w in ("Testing ", "one ", "two ", "three.")]
    usage = asr_backend.usage_sent[-1]
    assert chunks[-1] == TranscriptDone("Testing one two three.", seconds(),
                                        usage["input_tokens"], 4)


async def test_deltas_arrive_before_the_transcript_ends(
        stt: OpenAITranscriber, asr_backend: ASRBackend) -> None:
    asr_backend.flowing.clear()
    stream = stt.transcribe(request("gpt-4o-mini-transcribe"))
    async with asyncio.timeout(TIMEOUT):
        assert await anext(stream) == TranscriptDelta("hello ")
    assert asr_backend.chunks_sent == 1
    asr_backend.flowing.set()
    async with asyncio.timeout(TIMEOUT):
        rest = [c async for c in stream]
    assert rest[0] == TranscriptDelta("there") and isinstance(rest[-1], TranscriptDone)


async def test_stream_setting_overrides_the_model_name(asr_backend: ASRBackend) -> None:
    off = engine_for(asr_backend, stream=False)
    on = engine_for(asr_backend, stream=True)
    try:
        assert len(await collect(off, request("gpt-4o-transcribe"))) == 1
        assert not asr_backend.last.stream and "stream" not in asr_backend.last.fields
        assert len(await collect(on, request("whisper-1"))) == 3
        assert asr_backend.last.fields["stream"] == "true"
    finally:
        await off.aclose()
        await on.aclose()


async def test_json_answer_to_a_stream_request(
        stt: OpenAITranscriber, asr_backend: ASRBackend) -> None:
    asr_backend.modes.append("json")
    chunks = await collect(stt, request("gpt-4o-transcribe"))
    assert [type(c) for c in chunks] == [TranscriptDone] and chunks[0].text == "hello there"


@pytest.mark.parametrize("dialect", ["vllm", "segments"])
async def test_other_servers_streams(
        stt: OpenAITranscriber, asr_backend: ASRBackend, dialect: str) -> None:
    asr_backend.modes.append(dialect)
    chunks = await collect(stt, request("gpt-4o-transcribe"))
    assert chunks[:-1] == [TranscriptDelta("hello "), TranscriptDelta("there")]
    n_in = asr_backend.usage_sent[-1]["input_tokens"]
    tokens = (n_in, 2) if dialect == "vllm" else (None, None)
    assert chunks[-1] == TranscriptDone("hello there", seconds(), *tokens)


# --- failures -------------------------------------------------------------------------------


async def test_http_500_is_retried_once(stt: OpenAITranscriber, asr_backend: ASRBackend) -> None:
    asr_backend.modes.extend(["500", "500"])
    _, err = await failure(stt, request())
    assert err.code == "stt_http_500" and "mode 500" in err.message
    assert len(asr_backend.requests) == 2
    asr_backend.modes.append("500")
    assert (await collect(stt, request("gpt-4o-transcribe")))[-1].text == "hello there"
    assert len(asr_backend.requests) == 4
    assert asr_backend.requests[-1].pcm == asr_backend.requests[-2].pcm  # the form was rebuilt


async def test_http_400_is_not_retried(stt: OpenAITranscriber, asr_backend: ASRBackend) -> None:
    asr_backend.modes.append("400")
    _, err = await failure(stt, request())
    assert err.code == "stt_http_400" and "transcription failed: mode 400" in err.message
    assert len(asr_backend.requests) == 1


async def test_unreachable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = OpenAITranscriber(f"http://127.0.0.1:{port}/v1")
    try:
        _, err = await failure(engine, request())
    finally:
        await engine.aclose()
    assert err.code == "stt_unreachable"


async def test_silence_times_out_without_a_retry(asr_backend: ASRBackend) -> None:
    asr_backend.modes.append("hang")
    engine = engine_for(asr_backend, timeout=0.3)
    try:
        _, err = await failure(engine, request())
    finally:
        await engine.aclose()
    assert err.code == "stt_timeout" and len(asr_backend.requests) == 1
    async with asyncio.timeout(TIMEOUT):
        await asr_backend.disconnected.wait()


@pytest.mark.parametrize("model", ["whisper-1", "gpt-4o-transcribe"])
async def test_bad_json(stt: OpenAITranscriber, asr_backend: ASRBackend, model: str) -> None:
    asr_backend.modes.append("bad")
    got, err = await failure(stt, request(model))
    assert err.code == "stt_bad_response" and "invalid JSON" in err.message
    assert got == ([TranscriptDelta("hello ")] if model != "whisper-1" else [])
    assert len(asr_backend.requests) == 1


async def test_a_drop_after_a_delta_is_not_retried(
        stt: OpenAITranscriber, asr_backend: ASRBackend) -> None:
    asr_backend.modes.append("drop")
    got, err = await failure(stt, request("gpt-4o-transcribe"))
    assert err.code == "stt_unreachable" and got == [TranscriptDelta("hello ")]
    assert len(asr_backend.requests) == 1


async def test_closing_the_stream_hangs_up(
        stt: OpenAITranscriber, asr_backend: ASRBackend) -> None:
    asr_backend.modes.append("stall")
    stream = stt.transcribe(request("gpt-4o-transcribe"))
    async with asyncio.timeout(TIMEOUT):
        assert await anext(stream) == TranscriptDelta("hello ")
        await asr_backend.hanging.wait()
        await stream.aclose()
        await asr_backend.disconnected.wait()
