"""espeak-ng as the default speech engine: robotic but intelligible, instant, offline, and
installed with openrealtime itself (the ``espeakng-loader`` wheel carries library and data).

Every Realtime voice name speaks with its own espeak voice, variant, rate and pitch, chosen to
match the OpenAI voice's character (female or male, calm or bright); see ``REALTIME_VOICES``.
Other names speak as ``alloy``. ``SpeechRequest.speed`` scales the rate, within espeak's 80–450
words a minute (so speeds below about 0.5 all sound alike). ``instructions`` is ignored.

espeak has one global state, so syntheses run one at a time; each takes about a millisecond per
second of speech (measured on two cores), so waiting for another's is short. Audio streams out
in espeak's 60 ms pieces as it makes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import espeak
from .loading import EngineLoadError
from .tts import SpeechRequest, TTSError

ENGINE = "espeak"
ENGINE_ERROR = "tts_engine_error"
MIN_SPEED, MAX_SPEED = 0.25, 4.0
DEFAULT_RATE = 175
"""Words a minute at speed 1.0 for a voice forced with ``voice=``."""
_END = b""


@dataclass(frozen=True, slots=True)
class EspeakVoice:
    voice: str
    """An espeak voice with its variant (``en-us+f2``)."""
    rate_wpm: int
    """Words a minute at speed 1.0."""
    pitch: int
    """0–100; 50 is the variant's own."""
    character: str


REALTIME_VOICES: dict[str, EspeakVoice] = {
    "alloy": EspeakVoice("en-us", 175, 55, "neutral, balanced"),
    "ash": EspeakVoice("en-us+m3", 170, 45, "male, clear"),
    "ballad": EspeakVoice("en-gb-x-rp+m1", 160, 55, "male, British, melodic"),
    "coral": EspeakVoice("en-us+f2", 175, 55, "female, warm"),
    "echo": EspeakVoice("en-us+m1", 165, 35, "male, deep, resonant"),
    "sage": EspeakVoice("en-us+f1", 160, 45, "female, calm"),
    "shimmer": EspeakVoice("en-us+f5", 185, 60, "female, bright"),
    "verse": EspeakVoice("en-us+m6", 180, 55, "male, lively"),
    "marin": EspeakVoice("en-us+f3", 165, 50, "female, natural"),
    "cedar": EspeakVoice("en-us+m5", 165, 40, "male, low, natural"),
}
"""Realtime voice name -> how espeak speaks it."""
DEFAULT_VOICE = "alloy"


class EspeakSynthesizer:
    name = ENGINE

    def __init__(self, voice: str | None = None) -> None:
        """``voice``, when given, is an espeak voice (``en-us+f2``, ``de``, ``gmw/en-US``) that
        speaks every request, whatever voice the client asked for."""
        try:
            self.sample_rate: int = espeak.sample_rate()
            known = voice is None or espeak.has_voice(voice)
        except espeak.EspeakError as err:
            raise EngineLoadError(f"the {ENGINE} engine: {err}; reinstall its wheel: "
                                  "pip install --force-reinstall espeakng-loader") from None
        if not known:
            raise EngineLoadError(
                f"the {ENGINE} engine has no voice {voice!r}; give a language or voice such as "
                "en-us, en-gb, en-gb-x-rp, de, fr, optionally with a variant: en-us+f2 "
                "(variants: m1…m8, f1…f5)")
        self._forced = voice
        # One thread: espeak runs one synthesis at a time anyway, and a synthesis still queued
        # here (rather than blocked on espeak's lock in a shared pool) can be called off.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="espeak-tts")

    def voice_for(self, request: SpeechRequest) -> tuple[str, int, int | None]:
        """(espeak voice, words a minute, pitch) for a request."""
        speed = max(MIN_SPEED, min(MAX_SPEED, request.speed))
        if self._forced is not None:
            return self._forced, round(DEFAULT_RATE * speed), None
        v = REALTIME_VOICES.get(request.voice.strip().lower(), REALTIME_VOICES[DEFAULT_VOICE])
        return v.voice, round(v.rate_wpm * speed), v.pitch

    async def synthesize(self, request: SpeechRequest) -> AsyncGenerator[bytes, None]:
        """Closing the stream early (``aclose``, or ``contextlib.aclosing`` around a consumer
        that may be cancelled) stops espeak at its next piece and returns once it is free."""
        if not request.text.strip():
            return
        voice, rate, pitch = self.voice_for(request)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        wanted = True  # read by the synthesis thread; cleared when the consumer goes away

        def hand_over(pcm: bytes) -> bool:
            if not wanted:
                return False
            try:
                loop.call_soon_threadsafe(queue.put_nowait, pcm)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                return False
            return True

        def run() -> None:
            try:
                espeak.stream(request.text, hand_over, voice, rate, pitch)
            finally:
                hand_over(_END)

        try:
            work = self._pool.submit(run)
        except RuntimeError:  # the pool is shut down
            raise TTSError(ENGINE_ERROR, f"the {ENGINE} engine is closed.") from None
        try:
            while True:
                # Whatever else has arrived goes along: fewer, larger chunks, none of them later.
                pieces = [await queue.get()]
                while pieces[-1] and not queue.empty():
                    pieces.append(queue.get_nowait())
                if audio := b"".join(pieces):
                    yield audio
                if not pieces[-1]:
                    break
            await asyncio.wrap_future(work)  # raises what the synthesis raised
        except Exception as err:
            raise TTSError(ENGINE_ERROR, f"espeak synthesis failed: {err}") from err
        finally:
            wanted = False  # the next piece espeak makes ends the synthesis
            if not work.cancel():  # it started: wait for it, so espeak is free on return
                await asyncio.wait({asyncio.wrap_future(work)})
                work.exception()  # a failure after the consumer left has no one to tell

    async def aclose(self) -> None:
        """Take no more requests, and wait for those already taken (milliseconds each)."""
        await asyncio.to_thread(self._pool.shutdown, wait=True)
