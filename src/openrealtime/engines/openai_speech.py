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
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp
import msgspec

from ..audio.convert import Converter
from ..audio.spec import AudioSpec
from ..audio.wav import WavStream
from .http import PooledClient, error_message
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
