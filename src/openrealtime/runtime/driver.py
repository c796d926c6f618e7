"""The driver of one session: the thin asynchronous owner of the sans-I/O core.

It feeds client frames and engine chunks into the core, encodes what comes out, and turns
effects into tasks. Ordering: events are drained and encoded synchronously right after each
input, then written under one FIFO lock, so frames leave in the order the core made them even
when a slow client makes writes wait (and that wait is the backpressure on the LLM stream).
A write, once its frames are drained, completes even if the task that asked for it is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..engines.llm import LLM, FinishChunk, LLMError, LLMRequest, TextChunk, ToolCallChunk
from ..engines.stt import Transcriber
from ..engines.tts import Synthesizer
from ..protocol.codec import decode_client_event, encode
from ..protocol.errors import ClientError
from ..session.core import Session
from ..session.effects import (
    CancelGeneration,
    DetectSpeech,
    Effect,
    Generate,
    GenerationDone,
    GenerationFailed,
    Result,
    Synthesize,
    TextDelta,
    ToolCallDelta,
    Transcribe,
)
from .audio_work import Listener, Speaker, transcribe
from .streams import aclose_quietly
from .vad_worker import VadWorker

log = logging.getLogger(__name__)

Send = Callable[[bytes], Awaitable[None]]


class ClientGone(ConnectionResetError):
    """A frame could not be written: the connection is closing. The transport ends the
    session; a generation that meets it stops quietly."""


@dataclass(slots=True)
class Engines:
    llm: LLM
    vad: VadWorker | None = None
    stt: Transcriber | None = None
    tts: Synthesizer | None = None


class SessionDriver:
    def __init__(self, session: Session, engines: Engines, send: Send,
                 clock: Callable[[], float] = time.time) -> None:
        self.session = session
        self._engines = engines
        self._send = send
        self._clock = clock
        self._lock = asyncio.Lock()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._writing: set[asyncio.Task[Any] | None] = set()
        self._cancel_after_write: set[asyncio.Task[Any] | None] = set()
        self._speakers: dict[str, Speaker] = {}
        self._listener: Listener | None = None
        self._other: set[asyncio.Task[None]] = set()  # transcriptions, timer ticks
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    async def receive_frame(self, data: str | bytes) -> None:
        try:
            event = decode_client_event(data)
        except ClientError as err:
            self.session.receive_client_error(err)
        else:
            self.session.receive_client_event(event, self._clock())
        await self.flush()

    async def flush(self) -> None:
        """Send what the core produced and start what it asked for."""
        session = self.session
        frames = [encode(e) for e in session.events_to_send()]
        for effect in session.effects_to_run():
            self._run(effect)
        if session.next_deadline != self._timer_at:
            self._arm_timer(session.next_deadline)
        if frames:
            # Drained frames must go out even if ``response.cancel`` arrives while they wait
            # behind a slow client: a lost delta would no longer add up to its ``.done``. So a
            # generation is not cancelled inside a write; its cancel waits for the write to end
            # (cheaper than shielding every write in a task of its own).
            task = asyncio.current_task()
            self._writing.add(task)
            try:
                await self._write(frames)
            finally:
                self._writing.discard(task)
            if task in self._cancel_after_write:
                self._cancel_after_write.discard(task)
                raise asyncio.CancelledError

    async def _write(self, frames: list[bytes]) -> None:
        async with self._lock:
            for frame in frames:
                try:
                    await self._send(frame)
                except ConnectionError as err:
                    raise ClientGone(str(err)) from err

    def expire(self) -> None:
        self.session.expire()

    async def aclose(self) -> None:
        self._arm_timer(None)
        tasks = [*self._tasks.values(), *self._other,
                 *(s.task for s in self._speakers.values() if s.task is not None)]
        if self._listener is not None and self._listener.task is not None:
            tasks.append(self._listener.task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- timers -----------------------------------------------------------------------------

    def _arm_timer(self, at: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None:
            delay = max(0.0, at - self._clock())
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._spawn(self._tick())

    async def _tick(self) -> None:
        self.session.tick(self._clock())
        await self.flush()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(self._quietly(coro))
        self._other.add(task)
        task.add_done_callback(self._other.discard)

    async def _quietly(self, coro: Awaitable[None]) -> None:
        try:
            await coro
        except ClientGone:
            pass
        except Exception:  # our bug, not the client's: log it and keep the session
            log.exception("session %s: background work crashed", self.session.config.id)

    # --- effects ----------------------------------------------------------------------------

    def _run(self, effect: Effect) -> None:
        if isinstance(effect, Generate):
            request = LLMRequest(
                model=effect.model, instructions=effect.instructions, items=effect.items,
                tools=effect.tools, tool_choice=effect.tool_choice,
                max_output_tokens=effect.max_output_tokens,
                parallel_tool_calls=effect.parallel_tool_calls)
            task = asyncio.create_task(self._generate(effect.response_id, request))
            self._tasks[effect.response_id] = task
        elif isinstance(effect, CancelGeneration):
            self._stop_response(effect.response_id)
        elif isinstance(effect, Synthesize):
            self._speak(effect)
        elif isinstance(effect, DetectSpeech):
            self._hear(effect)
        elif isinstance(effect, Transcribe):
            self._spawn(transcribe(self._engines.stt, effect, self._feed))

    def _stop_response(self, rid: str) -> None:
        """Stop the LLM and speech work of a response that has ended."""
        speaker = self._speakers.pop(rid, None)
        for task in (self._tasks.pop(rid, None), speaker.task if speaker else None):
            if task is None or task is asyncio.current_task():
                continue
            if task in self._writing:
                self._cancel_after_write.add(task)
            else:
                task.cancel()

    def _speak(self, effect: Synthesize) -> None:
        rid = effect.response_id
        speaker = self._speakers.get(rid)
        if speaker is None:
            assert self._engines.tts is not None  # the core asks only when it was told of one
            speaker = self._speakers[rid] = Speaker(self._engines.tts, self._feed)

            async def run() -> None:
                try:
                    await speaker.run(lambda: rid in self._speakers)
                except ClientGone:
                    pass
                finally:
                    if self._speakers.get(rid) is speaker:
                        del self._speakers[rid]

            speaker.task = asyncio.create_task(run())
        speaker.say(effect)

    def _hear(self, effect: DetectSpeech) -> None:
        if self._engines.vad is None:
            return  # no VAD engine: turn detection never fires; manual commits still work
        if self._listener is None:
            self._listener = Listener(self._engines.vad, self._feed)
            self._listener.task = asyncio.create_task(self._quietly(self._listener.run()))
        self._listener.hear(effect)

    async def _feed(self, result: Result) -> None:
        session = self.session
        session.receive_result(result, self._clock())
        rid = getattr(result, "response_id", None)
        if rid is not None and not session.is_active(rid):
            self._stop_response(rid)  # it ended: its other engine's work is not wanted
        await self.flush()

    async def _feed_if_connected(self, result: Result) -> None:
        try:
            await self._feed(result)
        except ClientGone:
            pass

    async def _generate(self, rid: str, request: LLMRequest) -> None:
        stream = self._engines.llm.stream(request)
        try:
            async for chunk in stream:
                if isinstance(chunk, TextChunk):
                    await self._feed(TextDelta(rid, chunk.text))
                elif isinstance(chunk, ToolCallChunk):
                    await self._feed(ToolCallDelta(rid, chunk.index, chunk.arguments,
                                                   chunk.name, chunk.call_id))
                elif isinstance(chunk, FinishChunk):
                    await self._feed(GenerationDone(rid, chunk.reason, chunk.input_tokens,
                                                    chunk.output_tokens))
                    return
            raise LLMError("llm_malformed_stream", "LLM stream ended without finishing.")
        except ClientGone:
            log.debug("response %s stopped: the client is gone", rid)
        except LLMError as err:
            log.warning("response %s failed: %s", rid, err.message)
            await self._feed_if_connected(GenerationFailed(rid, err.code, err.message))
        except asyncio.CancelledError:
            raise
        except Exception:  # our bug, not the client's: log it, fail the response, go on
            log.exception("response %s crashed", rid)
            await self._feed_if_connected(GenerationFailed(
                rid, "internal_error", "The server failed while generating."))
        finally:
            # Close the engine's stream now (its HTTP response with it), not when the
            # generator is collected: after a return, an error, or a cancel outside it.
            await aclose_quietly(stream)
            if self._tasks.get(rid) is asyncio.current_task():
                del self._tasks[rid]
