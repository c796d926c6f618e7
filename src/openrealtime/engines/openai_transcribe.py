"""Speech-to-text through any OpenAI-compatible ``POST /audio/transcriptions`` (speaches, vLLM,
OpenAI): the utterance goes up as a WAV file in a multipart form.

With ``stream`` on, the endpoint answers Server-Sent Events: OpenAI's ``transcript.text.delta``
/ ``transcript.text.done``; vLLM's chat-style chunks and speaches' per-segment ``{"text"}``
objects are read too. An endpoint that answers plain JSON instead is accepted.

Retries happen once, on connection errors and 5xx, and only before a delta reached the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from ..audio.wav import write_wav
from .http import PooledClient, error_message
from .stt import STTError, TranscriptChunk, TranscriptDelta, TranscriptDone, TranscriptionRequest

log = logging.getLogger(__name__)

_json = msgspec.json.Decoder()
RETRY_DELAY = 0.25
_SSE = "text/event-stream"


class OpenAITranscriber:
    sample_rate = 16000  # what Whisper-family models work at; the runtime resamples to it

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        stream: bool | None = None,
    ) -> None:
        self.name = "openai-transcribe"
        self._url = base_url.rstrip("/") + "/audio/transcriptions"
        self._model = model
        self._stream = stream
        self._client = PooledClient(api_key=api_key, connect_timeout=min(timeout, 10.0),
                                    read_timeout=timeout, content_type=None)

    async def aclose(self) -> None:
        await self._client.aclose()

    def streams(self, model: str) -> bool:
        # OpenAI refuses ``stream`` for whisper-1; only its gpt-4o transcribers stream.
        return self._stream if self._stream is not None else "gpt-4o" in model.lower()

    def _form(self, req: TranscriptionRequest, model: str, stream: bool) -> aiohttp.FormData:
        form = aiohttp.FormData()
        whole = req.audio[: len(req.audio) // 2 * 2]  # a stray half sample would not be WAV
        form.add_field("file", write_wav(whole, req.sample_rate),
                       filename="audio.wav", content_type="audio/wav")
        form.add_field("model", model)
        form.add_field("response_format", "json")
        if req.language:
            form.add_field("language", req.language)
        if req.prompt:
            form.add_field("prompt", req.prompt)
        if stream:
            form.add_field("stream", "true")
        return form

    async def transcribe(self, request: TranscriptionRequest) -> AsyncIterator[TranscriptChunk]:
        model = self._model or request.model
        stream = self.streams(model)
        duration = len(request.audio) / 2 / request.sample_rate if request.sample_rate else 0.0
        started = False
        for attempt in range(2):
            try:
                # A fresh form each time: aiohttp's FormData can be sent only once.
                form = self._form(request, model, stream)
                async for chunk in self._attempt(form, duration):
                    started = True
                    yield chunk
                return
            except STTError as err:
                retryable = err.code == "stt_unreachable" or err.code.startswith("stt_http_5")
                if started or attempt or not retryable:
                    raise
                log.warning("transcription failed (%s), retrying: %s", err.code, err.message)
                await asyncio.sleep(RETRY_DELAY)

    async def _attempt(self, form: aiohttp.FormData,
                       duration: float) -> AsyncIterator[TranscriptChunk]:
        try:
            async with self._client.session().post(self._url, data=form,
                                                   headers=self._client.headers) as resp:
                if resp.status >= 400:
                    raise STTError(f"stt_http_{resp.status}",
                                   f"transcription backend answered HTTP {resp.status}: "
                                   f"{error_message(await resp.read())}")
                if resp.content_type == _SSE:
                    async for chunk in _read_sse(resp, duration):
                        yield chunk
                else:
                    yield _done(_object(await resp.read()), duration)
        except TimeoutError:
            raise STTError("stt_timeout", "transcription backend timed out.") from None
        except aiohttp.ClientError as err:
            raise STTError("stt_unreachable",
                           f"transcription backend unreachable: {err}") from None


async def _read_sse(resp: aiohttp.ClientResponse,
                    duration: float) -> AsyncIterator[TranscriptChunk]:
    said: list[str] = []
    usage: Any = None
    ended = False
    async for raw in resp.content:
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue  # event names, comments, keep-alives
        data = line[5:].strip()
        if data == b"[DONE]":
            ended = True
            break
        obj = _object(data)
        kind = obj.get("type")
        if kind == "transcript.text.done":
            yield _done(obj, duration)
            return
        text = _delta_text(obj, kind)
        if isinstance(obj.get("usage"), dict):
            usage = obj["usage"]
        if text:
            said.append(text)
            yield TranscriptDelta(text)
    if not ended and not said:
        raise STTError("stt_bad_response", "transcription stream ended with no transcript.")
    # vLLM and speaches end without a done event: the deltas are the transcript.
    yield _done({"text": "".join(said), "usage": usage}, duration)


def _delta_text(obj: dict[str, Any], kind: Any) -> str | None:
    if kind == "transcript.text.delta":
        delta = obj.get("delta")
    elif isinstance(obj.get("choices"), list) and obj["choices"]:  # vLLM
        choice = obj["choices"][0]
        delta = (choice.get("delta") or {}).get("content") if isinstance(choice, dict) else None
    elif kind is None:  # speaches sends each segment as {"text": ...}
        delta = obj.get("text")
    else:
        return None  # event types we do not use (segments, logprobs)
    if delta is not None and not isinstance(delta, str):
        raise STTError("stt_bad_response", "transcription delta is not a string.")
    return delta


def _object(data: bytes) -> dict[str, Any]:
    try:
        obj = _json.decode(data)
    except msgspec.DecodeError:
        raise STTError("stt_bad_response",
                       f"transcription backend sent invalid JSON: {data[:100]!r}") from None
    if not isinstance(obj, dict):
        raise STTError("stt_bad_response", "transcription backend sent a non-object.")
    if "error" in obj:
        raise STTError("stt_bad_response",
                       f"transcription backend error: {str(obj['error'])[:300]}")
    return obj


def _done(obj: dict[str, Any], duration: float) -> TranscriptDone:
    text = obj.get("text")
    if not isinstance(text, str):
        raise STTError("stt_bad_response", "transcription has no 'text'.")
    usage = obj.get("usage")
    tokens_in = tokens_out = None
    if isinstance(usage, dict):
        tokens_in = usage.get("input_tokens", usage.get("prompt_tokens"))
        tokens_out = usage.get("output_tokens", usage.get("completion_tokens"))
    if not (isinstance(tokens_in, int) and isinstance(tokens_out, int)):
        tokens_in = tokens_out = None  # a duration usage, or none: report the audio's length
    return TranscriptDone(text, duration, tokens_in, tokens_out)
