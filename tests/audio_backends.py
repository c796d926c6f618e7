"""OpenAI-compatible speech servers for tests: fixtures, not engines.

``TTSBackend`` serves ``POST /v1/audio/speech``: it speaks ``input`` with espeak-ng (24 kHz,
``speed`` scales the words a minute) and streams it back chunked, as raw ``pcm`` or as a
``wav`` whose header says "length unknown" the way streaming servers write it.
``ASRBackend`` serves ``POST /v1/audio/transcriptions``: it checks the multipart upload is a
proper WAV and answers a scripted transcript, as JSON or, for ``stream=true``, as SSE deltas
(word by word) then ``transcript.text.done`` with usage.

Both record every request (failed attempts included) and take a per-request script of
failures in ``modes`` (consumed one per request; empty means "answer normally"):

============  ==============================================================================
mode          behaviour
============  ==============================================================================
``500``       HTTP 500 with OpenAI's error shape
``400``       HTTP 400 with OpenAI's error shape
``hang``      nothing at all until the client goes (``hanging``, then ``disconnected``)
``stall``     the first chunk / delta, then nothing until the client goes
``drop``      the first chunk / delta, then the connection is cut mid-body
``mp3``       (TTS) a 200 with ``audio/mpeg`` bytes, as from a server that ignored the format
``wav``       (TTS) a WAV whatever format was asked
``bad``       (ASR) invalid JSON: the whole body, or the line after the first delta
``json``      (ASR) plain JSON even though ``stream=true`` was asked
``vllm``      (ASR) vLLM's stream: chat-style ``choices[0].delta.content``, then ``[DONE]``
``segments``  (ASR) speaches' stream: ``{"text": …}`` per segment, no done event
============  ==============================================================================

Pacing, for tests that need synthesis or transcription slower than instant: ``chunk_delay``
seconds between chunks, and ``flowing``, an event that is set; clear it and each stream stops
after its next chunk until it is set again. ``chunks_sent`` counts what went out.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import struct
import wave
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from aiohttp import web
from loopback_server import LoopbackServer
from speech import speech_pcm

from openrealtime.engines import openai_speech, openai_transcribe


class _Server(LoopbackServer):
    """A speech backend: scripted failure modes, and pacing of what it streams."""

    url_suffix = "/v1"

    def __init__(self) -> None:
        super().__init__()
        self.modes: deque[str] = deque()
        self.chunk_delay = 0.0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.chunks_sent = 0

    def _mode(self) -> str:
        return self.modes.popleft() if self.modes else "ok"

    async def _send(self, resp: web.StreamResponse, data: bytes) -> None:
        self.chunks_sent += 1  # before the write: a client may read it before write returns
        await resp.write(data)
        await self.flowing.wait()
        if self.chunk_delay:
            await asyncio.sleep(self.chunk_delay)

    @staticmethod
    def _drop(request: web.Request) -> None:
        assert request.transport is not None
        request.transport.close()


def error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error" if status < 500
                   else "server_error", "param": None, "code": None}}, status=status)


# --- text to speech -------------------------------------------------------------------------


class TTSBackend(_Server):
    path = "/v1/audio/speech"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self.chunk_bytes = 4800  # 100 ms at 24 kHz; odd sizes cut samples (and the header)
        self.wav_rate = 24000
        self.wav_channels = 1
        self.wav_size: Literal["unknown", "zero", "exact"] = "unknown"
        self.completed = 0  # streams sent to their end

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    @staticmethod
    def audio_for(text: str, speed: float = 1.0, rate: int = 24000) -> bytes:
        """The PCM16 mono this backend speaks for ``text`` (cached: same bytes every time)."""
        return speech_pcm(text, "en", rate, round(175 * speed))

    def body_for(self, text: str, speed: float = 1.0, fmt: str = "pcm") -> bytes:
        """The exact body bytes it sends for ``text`` in ``fmt``."""
        if fmt == "pcm":
            return self.audio_for(text, speed)
        pcm = self.audio_for(text, speed, self.wav_rate)
        if self.wav_channels > 1:
            pcm = b"".join(pcm[i:i + 2] * self.wav_channels for i in range(0, len(pcm), 2))
        return _wav_header(self.wav_rate, self.wav_channels, len(pcm), self.wav_size) + pcm

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        mode = self._mode()
        text, fmt = body.get("input"), body.get("response_format", "mp3")
        if mode in ("500", "400"):
            return error(int(mode), f"speech failed: mode {mode}")
        if not isinstance(text, str) or not isinstance(body.get("voice"), str):
            return error(400, "'input' and 'voice' are required strings")
        if mode == "mp3" or fmt not in ("pcm", "wav"):
            return web.Response(body=b"ID3\x04fake mp3", content_type="audio/mpeg")
        fmt = "wav" if mode == "wav" else fmt
        speed = float(body.get("speed", 1.0))
        if not 0.25 <= speed <= 4.0:
            return error(400, f"speed {speed} is outside 0.25-4.0")
        if mode == "hang":
            await self._hang()
            return web.Response(status=503)
        data = await asyncio.to_thread(self.body_for, text, speed, fmt)
        resp = web.StreamResponse(headers={
            "Content-Type": "audio/wav" if fmt == "wav" else "audio/pcm"})
        await resp.prepare(request)
        for n, start in enumerate(range(0, len(data), self.chunk_bytes)):
            if n == 1 and mode in ("stall", "drop"):
                if mode == "drop":
                    self._drop(request)
                    return resp
                await self._hang()
                return resp
            await self._send(resp, data[start:start + self.chunk_bytes])
        await resp.write_eof()
        self.completed += 1
        return resp


def _wav_header(rate: int, channels: int, size: int, how: str) -> bytes:
    data_size = {"unknown": 0xFFFFFFFF, "zero": 0, "exact": size}[how]
    riff_size = 0xFFFFFFFF if how == "unknown" else 0 if how == "zero" else 36 + size
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", riff_size, b"WAVE", b"fmt ", 16, 1,
                       channels, rate, rate * channels * 2, channels * 2, 16, b"data",
                       data_size)


# --- speech to text -------------------------------------------------------------------------


@dataclass
class Upload:
    """One transcription request as the server saw it."""

    fields: dict[str, str]
    filename: str | None
    content_type: str | None
    rate: int
    channels: int
    sample_width: int
    pcm: bytes = field(repr=False)

    @property
    def model(self) -> str | None:
        return self.fields.get("model")

    @property
    def language(self) -> str | None:
        return self.fields.get("language")

    @property
    def prompt(self) -> str | None:
        return self.fields.get("prompt")

    @property
    def stream(self) -> bool:
        return self.fields.get("stream", "false").lower() == "true"

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (self.sample_width * self.channels * self.rate)


_WORDS = re.compile(r"\S+\s*")


class ASRBackend(_Server):
    path = "/v1/audio/transcriptions"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Upload] = []
        self.invalid: list[str] = []
        self.answers: deque[str] = deque()  # the next transcripts, in order
        self.transcribe: Callable[[Upload], str] = lambda upload: "hello there"
        self.usage: Literal["tokens", "duration", "none"] = "tokens"
        self.usage_sent: list[dict[str, Any]] = []

    @property
    def last(self) -> Upload:
        return self.requests[-1]

    @staticmethod
    def tokens_for(upload: Upload, text: str) -> dict[str, Any]:
        """The token usage it reports: 10 a second of audio in, one a word out."""
        n_in, n_out = max(1, round(upload.seconds * 10)), len(text.split())
        return {"type": "tokens", "input_tokens": n_in, "output_tokens": n_out,
                "total_tokens": n_in + n_out,
                "input_token_details": {"text_tokens": 0, "audio_tokens": n_in}}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            upload = await _parse_upload(request)
        except ValueError as err:
            self.invalid.append(str(err))
            return error(400, str(err))
        self.requests.append(upload)
        mode = self._mode()
        if mode in ("500", "400"):
            return error(int(mode), f"transcription failed: mode {mode}")
        if mode == "hang":
            await self._hang()
            return web.Response(status=503)
        text = self.answers.popleft() if self.answers else self.transcribe(upload)
        usage = self._usage(upload, text)
        if not upload.stream or mode == "json":
            if mode == "bad":
                return web.Response(body=b'{"text": "hel', content_type="application/json")
            return web.json_response({"text": text, **({"usage": usage} if usage else {})})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for n, event in enumerate(_events(mode, text, usage)):
            if n == 1 and mode in ("stall", "drop", "bad"):
                if mode == "drop":
                    self._drop(request)
                    return resp
                if mode == "bad":
                    await resp.write(b'data: {"type": "transcript.text.delta", "del\n\n')
                    await resp.write_eof()
                    return resp
                await self._hang()
                return resp
            data = event if isinstance(event, bytes) else json.dumps(event).encode()
            await self._send(resp, b"data: " + data + b"\n\n")
        await resp.write_eof()
        return resp

    def _usage(self, upload: Upload, text: str) -> dict[str, Any] | None:
        if self.usage == "none":
            return None
        usage = (self.tokens_for(upload, text) if self.usage == "tokens"
                 else {"type": "duration", "seconds": round(upload.seconds + 0.5)})
        self.usage_sent.append(usage)
        return usage


def _events(mode: str, text: str, usage: dict[str, Any] | None) -> list[Any]:
    """The SSE ``data`` payloads: OpenAI's, vLLM's (chat-style chunks, usage, ``[DONE]``), or
    speaches' (one ``{"text"}`` per segment, no done event)."""
    words = _WORDS.findall(text)
    if mode == "vllm":
        chunks: list[Any] = [{"object": "transcription.chunk",
                              "choices": [{"delta": {"content": w}}]} for w in words]
        if usage:
            chunks.append({"object": "transcription.chunk", "choices": [],
                           "usage": {"prompt_tokens": usage.get("input_tokens"),
                                     "completion_tokens": usage.get("output_tokens")}})
        return [*chunks, b"[DONE]"]
    if mode == "segments":
        return [{"text": w} for w in words]
    done = {"type": "transcript.text.done", "text": text, **({"usage": usage} if usage else {})}
    return [*({"type": "transcript.text.delta", "delta": w} for w in words), done]


async def _parse_upload(request: web.Request) -> Upload:
    form = await request.post()
    file = form.get("file")
    if not isinstance(file, web.FileField):
        raise ValueError("'file' must be an uploaded file")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not fields.get("model"):
        raise ValueError("'model' is required")
    with file.file:  # a SpooledTemporaryFile: close it, or its finaliser warns
        data = file.file.read()
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            frames = w.getnframes()
            pcm = w.readframes(frames)
    except (wave.Error, EOFError) as err:
        raise ValueError(f"'file' is not a valid WAV: {err}") from None
    if len(pcm) != frames * channels * width:
        raise ValueError(f"WAV header says {frames} frames, body has {len(pcm)} bytes")
    return Upload(fields, file.filename, file.content_type, rate, channels, width, pcm)


# --- fixtures (registered by importing them into a test module or conftest.py) --------------


@pytest.fixture
async def tts_backend(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TTSBackend]:
    # Retries keep their logic but not their wait: the suite must stay fast.
    monkeypatch.setattr(openai_speech, "RETRY_DELAY", 0.0)
    server = TTSBackend()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def asr_backend(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ASRBackend]:
    monkeypatch.setattr(openai_transcribe, "RETRY_DELAY", 0.0)
    server = ASRBackend()
    await server.start()
    try:
        yield server
    finally:
        await server.close()

