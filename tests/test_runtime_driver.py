"""``SessionDriver`` with a slow client: frames keep their order and none is lost when a
response is cancelled while its own frames are still waiting to be written.

The transport is replaced by a ``send`` that can be held shut (a client that stopped reading);
the LLM by one that yields chunks as the test hands them over.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import TIMEOUT, check_server_frame

from openrealtime.engines.llm import Chunk, FinishChunk, LLMRequest, TextChunk
from openrealtime.runtime.driver import Engines, SessionDriver
from openrealtime.session.core import Session


class HandFedLLM:
    name = "hand-fed"

    def __init__(self) -> None:
        self.chunks: asyncio.Queue[Chunk] = asyncio.Queue()
        self.closed_event = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self.closed_event.is_set()

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        try:
            while True:
                yield await self.chunks.get()
        finally:
            self.closed_event.set()  # only when the consumer closes the stream

    async def aclose(self) -> None:
        return None


class SlowClient:
    """Records frames; while ``open`` is clear, writes wait (the socket buffer is full)."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.open = asyncio.Event()
        self.open.set()
        self.waiting = asyncio.Event()
        self.arrived = asyncio.Condition()
        self.gone = False

    async def send(self, frame: bytes) -> None:
        if self.gone:
            raise ConnectionResetError("Cannot write to closing transport")
        if not self.open.is_set():
            self.waiting.set()
            await self.open.wait()
        self.frames.append(check_server_frame(frame))
        async with self.arrived:
            self.arrived.notify_all()

    async def until(self, kind: str) -> None:
        async with asyncio.timeout(TIMEOUT), self.arrived:
            await self.arrived.wait_for(lambda: any(f["type"] == kind for f in self.frames))


def frame(event: dict[str, Any]) -> str:
    return json.dumps(event)


async def test_cancel_while_the_response_frames_wait_loses_none() -> None:
    llm = HandFedLLM()
    client = SlowClient()
    driver = SessionDriver(Session(model="m", now=0.0), Engines(llm=llm), client.send,
                           clock=lambda: 0.0)
    await driver.flush()
    await driver.receive_frame(frame({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}))
    await driver.receive_frame(frame({"type": "response.create"}))
    llm.chunks.put_nowait(TextChunk("one "))
    await client.until("response.output_text.delta")

    client.open.clear()  # the client stops reading
    llm.chunks.put_nowait(TextChunk("two "))
    async with asyncio.timeout(TIMEOUT):
        await client.waiting.wait()  # the delta "two " is drained and waiting to be written
    handled = asyncio.Event()
    receive = driver.session.receive_client_event

    def spy(event: Any, now: float) -> None:
        receive(event, now)
        handled.set()

    driver.session.receive_client_event = spy  # type: ignore[method-assign]
    cancel = asyncio.create_task(driver.receive_frame(frame({"type": "response.cancel"})))
    async with asyncio.timeout(TIMEOUT):
        await handled.wait()  # the core cancelled; the driver cancelled the generation task
    assert not driver.session.active_response_ids
    client.open.set()
    async with asyncio.timeout(TIMEOUT):
        await cancel
    await client.until("response.done")
    await driver.aclose()

    kinds = [f["type"] for f in client.frames]
    deltas = "".join(f["delta"] for f in client.frames
                     if f["type"] == "response.output_text.delta")
    text_done = next(f for f in client.frames if f["type"] == "response.output_text.done")
    assert deltas == text_done["text"] == "one two "
    assert kinds[-1] == "response.done"
    assert client.frames[-1]["response"]["status"] == "cancelled"


async def test_client_gone_mid_response_stops_the_generation_quietly(
        caplog: pytest.LogCaptureFixture) -> None:
    llm = HandFedLLM()
    client = SlowClient()
    driver = SessionDriver(Session(model="m", now=0.0), Engines(llm=llm), client.send,
                           clock=lambda: 0.0)
    await driver.flush()
    await driver.receive_frame(frame({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}))
    await driver.receive_frame(frame({"type": "response.create"}))
    (task,) = driver._tasks.values()
    llm.chunks.put_nowait(TextChunk("one "))
    await client.until("response.output_text.delta")

    client.gone = True
    llm.chunks.put_nowait(TextChunk("two "))
    async with asyncio.timeout(TIMEOUT):
        await asyncio.wait([task])
    assert task.exception() is None
    assert llm.closed  # the engine's stream was closed, not left to the garbage collector
    assert not driver._tasks
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    await driver.aclose()


async def test_finished_generation_closes_the_engine_stream() -> None:
    llm = HandFedLLM()
    client = SlowClient()
    driver = SessionDriver(Session(model="m", now=0.0), Engines(llm=llm), client.send,
                           clock=lambda: 0.0)
    await driver.receive_frame(frame({"type": "response.create"}))
    llm.chunks.put_nowait(FinishChunk("stop", 1, 0))
    await client.until("response.done")
    async with asyncio.timeout(TIMEOUT):
        await llm.closed_event.wait()
    await driver.aclose()


async def test_the_idle_timer_fires_and_the_session_answers_the_silence() -> None:
    # A clock that runs 6 s on at every reading: the 5 s idle deadline set when the response
    # ends is already past when the driver arms its timer, so it fires on the next loop turn.
    now = [0.0]

    def clock() -> float:
        now[0] += 6.0
        return now[0]

    llm = HandFedLLM()
    client = SlowClient()
    driver = SessionDriver(Session(model="m", now=0.0), Engines(llm=llm), client.send,
                           clock=clock)
    await driver.receive_frame(frame({"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": {"turn_detection": {
            "type": "server_vad", "idle_timeout_ms": 5000, "create_response": False}}}}}))
    await driver.receive_frame(frame({"type": "response.create"}))
    llm.chunks.put_nowait(FinishChunk("stop", 1, 0))
    await client.until("input_audio_buffer.timeout_triggered")
    await client.until("conversation.item.done")
    await driver.aclose()
    kinds = [f["type"] for f in client.frames]
    after = kinds[kinds.index("response.done") + 1:]
    assert after[:4] == ["input_audio_buffer.timeout_triggered", "input_audio_buffer.committed",
                         "conversation.item.added", "conversation.item.done"]
