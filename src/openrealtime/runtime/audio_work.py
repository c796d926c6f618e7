"""The audio work a session asks for: transcribing committed turns, speaking a response's
segments, and feeding input audio to the shared VAD. Each runs as a task of the driver and
reports through ``feed``; engine failures become failure results, never exceptions."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from ..audio.convert import Converter
from ..audio.spec import AudioSpec
from ..engines.stt import STTError, Transcriber, TranscriptDelta, TranscriptionRequest
from ..engines.tts import SpeechRequest, Synthesizer, TTSError
from ..session.effects import (
    DetectSpeech,
    Result,
    SpeechAudio,
    SpeechDone,
    SpeechFailed,
    SpeechProbabilities,
    Synthesize,
    Transcribe,
    TranscriptionDelta,
    TranscriptionDone,
    TranscriptionFailed,
)
from .streams import aclose_quietly
from .vad_worker import VadStream, VadWorker

log = logging.getLogger(__name__)

Feed = Callable[[Result], Awaitable[None]]
# Audio deltas of at most 200 ms (at 24 kHz PCM16): a client starts playing sooner, and no
# frame comes near the 1 MiB limit whatever the engine's chunking.
MAX_DELTA_BYTES = 9600


async def transcribe(engine: Transcriber | None, effect: Transcribe, feed: Feed) -> None:
    iid = effect.item_id
    if engine is None:
        await feed(TranscriptionFailed(
            iid, "stt_unavailable",
            "Input audio transcription is not available: this server has no speech-to-text "
            "engine (it runs with --asr-engine none)."))
        return
    target = AudioSpec("pcm16", engine.sample_rate)
    conv = Converter(effect.spec, target)
    pcm = conv.convert(effect.audio) + conv.flush()
    request = TranscriptionRequest(audio=pcm, sample_rate=engine.sample_rate,
                                   model=effect.model, language=effect.language,
                                   prompt=effect.prompt)
    streamed = False
    stream = engine.transcribe(request)
    try:
        async for chunk in stream:
            if isinstance(chunk, TranscriptDelta):
                streamed = True
                await feed(TranscriptionDelta(iid, chunk.text))
            else:
                if not streamed and chunk.text:
                    # Like whisper-1 on OpenAI: one delta with the whole text, then completed.
                    await feed(TranscriptionDelta(iid, chunk.text))
                await feed(TranscriptionDone(iid, chunk.text, chunk.duration_s,
                                             chunk.input_tokens, chunk.output_tokens))
                return
        raise STTError("stt_bad_response", "The transcription ended without a transcript.")
    except STTError as err:
        log.warning("transcription of %s failed: %s", iid, err.message)
        await feed(TranscriptionFailed(iid, err.code, err.message))
    finally:
        await aclose_quietly(stream)


class Speaker:
    """Speaks one response's segments strictly in order, as they are asked for."""

    def __init__(self, engine: Synthesizer, feed: Feed) -> None:
        self._engine = engine
        self._feed = feed
        self._queue: asyncio.Queue[Synthesize] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def say(self, effect: Synthesize) -> None:
        self._queue.put_nowait(effect)

    async def run(self, still_wanted: Callable[[], bool]) -> None:
        while True:
            effect = await self._queue.get()
            if not await self._speak(effect) or not still_wanted():
                return

    async def _speak(self, effect: Synthesize) -> bool:
        rid, seg = effect.response_id, effect.segment
        conv = Converter(AudioSpec("pcm16", self._engine.sample_rate), effect.spec)
        request = SpeechRequest(text=effect.text, voice=effect.voice, speed=effect.speed)
        stream = self._engine.synthesize(request)
        try:
            async for chunk in stream:
                await self._send(rid, seg, conv.convert(chunk))
            await self._send(rid, seg, conv.flush())
        except TTSError as err:
            log.warning("speech of response %s failed: %s", rid, err.message)
            await self._feed(SpeechFailed(rid, err.code, err.message))
            return False
        finally:
            # On a cancel (barge-in) the engine stops now: espeak's lock, a worker thread or
            # the HTTP stream is released before the next response asks for it.
            await aclose_quietly(stream)
        await self._feed(SpeechDone(rid, seg))
        return True

    async def _send(self, rid: str, seg: int, audio: bytes) -> None:
        for i in range(0, len(audio), MAX_DELTA_BYTES):
            await self._feed(SpeechAudio(rid, seg, audio[i:i + MAX_DELTA_BYTES]))


class Listener:
    """Feeds one session's input audio to the shared VAD, in order, one stream per epoch."""

    def __init__(self, worker: VadWorker, feed: Feed) -> None:
        self._worker = worker
        self._feed = feed
        self._pending: deque[DetectSpeech] = deque()
        self._arrived = asyncio.Event()
        self._stream: VadStream | None = None
        self._epoch = -1
        self.task: asyncio.Task[None] | None = None

    def hear(self, effect: DetectSpeech) -> None:
        self._pending.append(effect)
        self._arrived.set()

    async def run(self) -> None:
        try:
            while True:
                effect = await self._next()
                if effect.epoch != self._epoch or self._stream is None:
                    self.close()
                    self._stream = self._worker.open_stream(effect.spec)
                    self._epoch = effect.epoch
                try:
                    probs = await self._stream.analyze(effect.audio)
                except Exception:  # the model failed: this chunk goes unheard, the rest not
                    log.exception("voice activity detection failed")
                    continue
                if probs:
                    await self._feed(SpeechProbabilities(effect.epoch, tuple(probs)))
        finally:
            self.close()

    async def _next(self) -> DetectSpeech:
        """The next append, joined with those queued behind it in the same stream: under load
        the VAD falls behind by several appends, and one call then does for all of them."""
        pending = self._pending
        while not pending:
            self._arrived.clear()
            await self._arrived.wait()
        first = pending.popleft()
        if not pending:
            return first
        parts = [first.audio]
        while pending and pending[0].epoch == first.epoch and pending[0].spec == first.spec:
            parts.append(pending.popleft().audio)
        return DetectSpeech(first.epoch, b"".join(parts), first.spec)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
