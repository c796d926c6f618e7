"""Text-to-speech through any OpenAI-compatible ``POST /audio/speech`` (speaches, Kokoro-FastAPI,
vLLM, OpenAI), read as it streams.

It asks for ``pcm`` (OpenAI: raw 24 kHz 16-bit mono) or ``wav`` explicitly, since these
endpoints answer mp3 by default. Raw PCM carries no rate, so ``sample_rate`` must be the
server's; a WAV header says its own, and audio at another rate or in stereo or float is
converted. Retries happen once, on connection errors and 5xx, before any audio reached the
caller, where a retry cannot repeat speech.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp
import msgspec
import numpy as np

from ..audio.convert import Converter
from ..audio.spec import AudioSpec
from .http import PooledClient
from .openai_transcribe import error_message
from .tts import SpeechRequest, TTSError

log = logging.getLogger(__name__)

RETRY_DELAY = 0.25
MIN_SPEED, MAX_SPEED = 0.25, 4.0
# What an endpoint sends when it ignored ``response_format``, or sent an error with a 200.
_NOT_PCM = ("audio/mpeg", "audio/mp3", "audio/aac", "audio/opus", "audio/ogg", "audio/flac",
            "application/json")


class OpenAISpeech:
    def __init__(
        self,
        base_url: str,
        *,
        model: str = "tts-1",
        api_key: str | None = None,
        timeout: float = 60.0,
        response_format: Literal["pcm", "wav"] = "pcm",
        sample_rate: int = 24000,
        voice: str | None = None,
    ) -> None:
        """``voice``, when given, replaces whatever voice the client asked for (for servers
        that do not know OpenAI's voice names)."""
        self.name = "openai-speech"
        self.sample_rate = sample_rate
        self._url = base_url.rstrip("/") + "/audio/speech"
        self._model = model
        self._format = response_format
        self._voice = voice
        self._client = PooledClient(api_key=api_key, connect_timeout=min(timeout, 10.0),
                                    read_timeout=timeout, content_type="application/json")

    async def aclose(self) -> None:
        await self._client.aclose()

    def body(self, req: SpeechRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "input": req.text,
            "voice": self._voice or req.voice,
            "speed": max(MIN_SPEED, min(MAX_SPEED, req.speed)),
            "response_format": self._format,
        }
        if req.instructions:
            body["instructions"] = req.instructions
        return body

    async def synthesize(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        payload = msgspec.json.encode(self.body(request))
        started = False
        for attempt in range(2):
            try:
                async for chunk in self._attempt(payload):
                    started = True
                    yield chunk
                return
            except TTSError as err:
                retryable = err.code == "tts_unreachable" or err.code.startswith("tts_http_5")
                if started or attempt or not retryable:
                    raise
                log.warning("speech request failed (%s), retrying: %s", err.code, err.message)
                await asyncio.sleep(RETRY_DELAY)

    async def _attempt(self, payload: bytes) -> AsyncIterator[bytes]:
        try:
            async with self._client.session().post(self._url, data=payload,
                                                   headers=self._client.headers) as resp:
                if resp.status >= 400:
                    raise TTSError(f"tts_http_{resp.status}",
                                   f"speech backend answered HTTP {resp.status}: "
                                   f"{error_message(await resp.read())}")
                if resp.content_type in _NOT_PCM or resp.content_type.startswith("text/"):
                    raise TTSError("tts_bad_response",
                                   f"speech backend sent {resp.content_type}, not "
                                   f"{self._format}: {(await resp.read())[:200]!r}")
                decoder = _Decoder(self._format, self.sample_rate)
                async for data in resp.content.iter_any():
                    if out := decoder.feed(data):
                        yield out
                if out := decoder.finish():
                    yield out
        except TimeoutError:
            raise TTSError("tts_timeout", "speech backend timed out.") from None
        except aiohttp.ClientError as err:
            raise TTSError("tts_unreachable", f"speech backend unreachable: {err}") from None


class _Decoder:
    """Body bytes -> PCM16 mono at ``rate``, in whole samples. A body that starts with a RIFF
    header is read as WAV whatever was asked for: some servers send WAV for ``pcm``."""

    def __init__(self, fmt: Literal["pcm", "wav"], rate: int) -> None:
        self._fmt = fmt
        self._out = AudioSpec("pcm16", rate)
        self._head = b""  # the first bytes, until they say whether this is a WAV file
        self._wav: WavStream | None = None
        self._convert: Converter | None = None

    def feed(self, data: bytes) -> bytes:
        if self._convert is None and self._wav is None:
            self._head += data
            if len(self._head) < 4:
                return b""
            data, self._head = self._head, b""
            if data.startswith(b"RIFF"):
                self._wav = WavStream()
            elif self._fmt == "wav":
                raise TTSError("tts_bad_response", f"speech backend sent no WAV: {data[:16]!r}")
            else:
                self._convert = Converter(self._out, self._out)  # keeps odd bytes for later
        if self._wav is not None:
            try:
                data = self._wav.feed(data)
            except ValueError as err:
                raise TTSError("tts_bad_response", f"speech backend sent a bad WAV: {err}") \
                    from None
            if self._convert is None and self._wav.rate:
                self._convert = Converter(AudioSpec("pcm16", self._wav.rate), self._out)
        return self._convert.convert(data) if self._convert is not None and data else b""

    def finish(self) -> bytes:
        if self._wav is None and self._convert is None:  # fewer than four bytes in all
            if self._fmt == "wav":
                raise TTSError("tts_bad_response", "speech backend sent no WAV.")
            return self._head[: len(self._head) // 2 * 2]
        if self._convert is None:
            raise TTSError("tts_bad_response", "speech backend's WAV ended before its data.")
        return self._convert.flush()


class WavStream:
    """A WAV file read as it arrives: the header, then its frames as PCM16 mono.

    ``rate`` is 0 until the data chunk begins. A streamed WAV cannot know its length, so a
    data size of 0 or 0xFFFFFFFF means "until the end of the body". Raises ``ValueError``.
    """

    MAX_HEADER = 1 << 20

    def __init__(self) -> None:
        self.rate = 0
        self._buf = b""
        self._fmt: tuple[int, int, int] | None = None  # (format tag, channels, bits)
        self._left: int | None = None  # data bytes still to come; None: to the end

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        if not self.rate:
            self._header()
            if not self.rate:
                return b""
        data, self._buf = self._buf, b""
        if self._left is not None:
            data, self._left = data[: self._left], max(0, self._left - len(data))
        assert self._fmt is not None
        tag, channels, bits = self._fmt
        frame = channels * bits // 8
        if cut := len(data) % frame:  # a partial frame waits for the rest
            self._buf, data = data[-cut:], data[:-cut]
            if self._left is not None:
                self._left += cut
        if tag == 1 and channels == 1:
            return data
        samples = np.frombuffer(data, dtype="<i2" if tag == 1 else "<f4").reshape(-1, channels)
        if tag == 3:
            samples = np.clip(samples * 32768.0, -32768, 32767)
        mono: bytes = np.rint(samples.mean(axis=1)).astype("<i2").tobytes()
        return mono

    def _header(self) -> None:
        buf = self._buf
        if len(buf) < 12:
            return
        if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
            raise ValueError(f"not a RIFF/WAVE header: {buf[:12]!r}")
        pos = 12
        while len(buf) >= pos + 8:
            kind, size = buf[pos:pos + 4], int.from_bytes(buf[pos + 4:pos + 8], "little")
            pos += 8
            if kind == b"data":
                if self._fmt is None:
                    raise ValueError("data chunk before fmt chunk")
                self._left = None if size in (0, 0xFFFFFFFF) else size
                self._buf = buf[pos:]
                return
            if len(buf) < pos + size + size % 2:
                break  # this chunk is not all here yet
            if kind == b"fmt ":
                self._fmt, self.rate = _fmt(buf[pos:pos + size])
            pos += size + size % 2  # chunks are padded to even sizes
        self.rate = 0  # known only once the data begins
        if len(buf) > self.MAX_HEADER:
            raise ValueError("no data chunk in the first MiB")


def _fmt(chunk: bytes) -> tuple[tuple[int, int, int], int]:
    if len(chunk) < 16:
        raise ValueError("short fmt chunk")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", chunk[:16])
    if tag == 0xFFFE and len(chunk) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real tag follows
        tag = int.from_bytes(chunk[24:26], "little")
    if (tag, bits) not in ((1, 16), (3, 32)) or channels < 1 or rate < 1:
        raise ValueError(f"unsupported WAV format {tag}, {bits}-bit, {channels} channels, "
                         f"{rate} Hz (need 16-bit PCM or 32-bit float)")
    return (tag, channels, bits), rate
