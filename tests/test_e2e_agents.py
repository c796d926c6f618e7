"""End to end with openai-agents: ``RealtimeRunner`` pointed at a real openrealtime server.

openai-agents validates every server event against openai-python's models and turns a failure
into a session ``error`` event (or an exception raised from the event iterator), so each test
also asserts that no such event appeared. Without a speech engine the server answers in
text whatever modality the agent asks for; with one (the audio tests) it speaks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner, RealtimeSession
from agents.realtime.model_inputs import RealtimeModelSendInterrupt
from conftest import TIMEOUT, RunningServer, check_server_frame

Event = dict[str, Any]


@dataclass
class Seen:
    """What a session produced: the raw server events and the session-level events."""

    raw: list[Event] = field(default_factory=list)
    session: list[Any] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for e in self.raw if e["type"] == kind)

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.session if e.type == kind]

    @property
    def errors(self) -> list[Any]:
        return self.of("error") + [e for e in self.raw if e["type"] == "error"]


async def collect(session: RealtimeSession, seen: Seen,
                  stop: Callable[[Seen], bool]) -> Seen:
    """Iterate the session's events until ``stop(seen)``; fail after ``TIMEOUT``."""
    if stop(seen):
        return seen
    async with asyncio.timeout(TIMEOUT):
        async for event in session:
            seen.session.append(event)
            if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                raw = event.data.data
                check_server_frame(json.dumps(raw))
                seen.raw.append(raw)
            if stop(seen):
                return seen
    raise AssertionError("the session ended early")


def assistant_texts(session: RealtimeSession) -> list[str]:
    texts = []
    for item in session._history:
        if item.type == "message" and item.role == "assistant":
            texts.append("".join(getattr(part, "text", None) or "" for part in item.content))
    return texts


weather_calls: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    weather_calls.append(city)
    return f"Sunny in {city}"


def make_agent() -> RealtimeAgent[Any]:
    return RealtimeAgent(name="helper", instructions="Be helpful.", tools=[get_weather])


async def start(server: RunningServer, settings: dict[str, Any]) -> RealtimeSession:
    runner = RealtimeRunner(starting_agent=make_agent())
    async with asyncio.timeout(TIMEOUT):
        session = await runner.run(model_config={
            "url": server.realtime_url, "api_key": "k",
            "initial_model_settings": settings,  # type: ignore[typeddict-item]
        })
        await session.enter()
    return session


async def close(session: RealtimeSession) -> None:
    async with asyncio.timeout(TIMEOUT):
        await session.close()


def updated_after_connect(seen: Seen) -> bool:
    return seen.count("session.updated") >= 1


@pytest.mark.parametrize("modalities", [["audio"], ["text"]])
async def test_agent_gets_a_text_reply(server: RunningServer, modalities: list[str]) -> None:
    session = await start(server, {"output_modalities": modalities, "voice": "ash"})
    try:
        seen = await collect(session, Seen(), updated_after_connect)
        updated = next(e for e in seen.raw if e["type"] == "session.updated")
        assert updated["session"]["output_modalities"] == ["text"]
        assert updated["session"]["instructions"] == "Be helpful."

        async with asyncio.timeout(TIMEOUT):
            await session.send_message("say: Hello from the server")
        await collect(session, seen, lambda s: bool(s.of("agent_end")))
        await collect(session, seen,
                      lambda s: "Hello from the server" in assistant_texts(session))
    finally:
        await close(session)

    assert seen.errors == []
    done = [e for e in seen.raw if e["type"] == "response.done"]
    assert [d["response"]["status"] for d in done] == ["completed"]
    assert seen.of("agent_start") and seen.of("history_added")
    assert server.backend.last["messages"][0] == {"role": "system", "content": "Be helpful."}
    assert server.backend.last["tools"][0]["function"]["name"] == "get_weather"


async def test_agent_runs_a_tool_and_the_follow_up_response_happens(
        server: RunningServer) -> None:
    weather_calls.clear()
    session = await start(server, {})
    try:
        seen = await collect(session, Seen(), updated_after_connect)
        async with asyncio.timeout(TIMEOUT):
            await session.send_message('call: get_weather {"city":"Paris"}')
        await collect(session, seen, lambda s: s.count("response.done") >= 2)
        await collect(session, seen,
                      lambda s: "Tool said: Sunny in Paris" in assistant_texts(session))
    finally:
        await close(session)

    assert seen.errors == []
    assert weather_calls == ["Paris"]
    assert [e.tool.name for e in seen.of("tool_start")] == ["get_weather"]
    assert [e.output for e in seen.of("tool_end")] == ["Sunny in Paris"]
    statuses = [e["response"]["status"] for e in seen.raw if e["type"] == "response.done"]
    assert statuses == ["completed", "completed"]
    # The agents SDK sent the tool output back; the follow-up request carried it.
    messages = server.backend.last["messages"]
    assert messages[-2]["tool_calls"][0]["id"] == "call_w1"
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_w1",
                            "content": "Sunny in Paris"}
    assert server.backend.invalid == []


async def test_agent_interrupt_cancels_the_response(server: RunningServer) -> None:
    session = await start(server, {})
    try:
        seen = await collect(session, Seen(), updated_after_connect)
        async with asyncio.timeout(TIMEOUT):
            await session.send_message("hang")
        await collect(session, seen, lambda s: s.count("response.output_text.delta") >= 1)
        # ``session.interrupt()`` only cuts audio playback (and leaves the cancel to the
        # server's VAD); a text turn is cancelled explicitly.
        async with asyncio.timeout(TIMEOUT):
            await session.model.send_event(RealtimeModelSendInterrupt(force_response_cancel=True))
        await collect(session, seen, lambda s: s.count("response.done") >= 1)
        async with asyncio.timeout(TIMEOUT):
            await server.backend.disconnected.wait()

        # The session goes on.
        async with asyncio.timeout(TIMEOUT):
            await session.send_message("say: after the interrupt")
        await collect(session, seen, lambda s: s.count("response.done") >= 2)
    finally:
        await close(session)

    assert seen.errors == []
    done = [e["response"] for e in seen.raw if e["type"] == "response.done"]
    assert done[0]["status"] == "cancelled"
    assert done[0]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert done[1]["status"] == "completed"


async def test_backend_failure_reaches_the_agent_as_a_failed_turn(
        server: RunningServer) -> None:
    session = await start(server, {})
    try:
        seen = await collect(session, Seen(), updated_after_connect)
        async with asyncio.timeout(TIMEOUT):
            await session.send_message("fail 400")
        await collect(session, seen, lambda s: bool(s.of("agent_end")))
        async with asyncio.timeout(TIMEOUT):
            await session.send_message("say: working again")
        await collect(session, seen, lambda s: s.count("response.done") >= 2)
    finally:
        await close(session)

    # No validation failures: the failed response.done parses; the turn simply ends.
    assert seen.errors == []
    done = [e["response"] for e in seen.raw if e["type"] == "response.done"]
    assert [d["status"] for d in done] == ["failed", "completed"]
    assert done[0]["status_details"]["error"]["code"] == "llm_http_error"


async def send_speech(session: RealtimeSession, pcm: bytes) -> None:
    from speech import chunks

    async with asyncio.timeout(TIMEOUT):
        for piece in chunks(pcm):
            await session.send_audio(piece)


async def test_agent_talks_with_speech_in_and_out(audio_server: Any) -> None:
    from speech import silence, speech_pcm24k

    audio_server.asr.answers.append("say: Hello there, I heard you fine.")
    session = await start(audio_server, {"output_modalities": ["audio"]})
    try:
        seen = await collect(session, Seen(), updated_after_connect)
        await send_speech(session, silence(300) + speech_pcm24k("hi agent") + silence(1300))
        await collect(session, seen, lambda s: bool(s.of("audio_end")))
        await collect(session, seen, lambda s: s.count("response.done") >= 1)
    finally:
        await close(session)

    assert seen.errors == []
    audio = b"".join(e.audio.data for e in seen.of("audio"))
    assert len(audio) > 24000  # more than half a second of reply
    assert seen.count("input_audio_buffer.speech_started") == 1
    done = [e["response"] for e in seen.raw if e["type"] == "response.done"]
    assert done[0]["status"] == "completed"
    assert done[0]["output"][0]["content"][0]["transcript"] == "Hello there, I heard you fine."


async def test_agent_barge_in_interrupts_and_truncates(audio_server: Any) -> None:
    from speech import silence, speech_pcm24k

    audio_server.asr.answers.extend(["say: Once upon a time, there was a long story to tell.",
                                     "say: Okay."])
    audio_server.tts.modes.append("stall")
    session = await start(audio_server, {"output_modalities": ["audio"]})
    try:
        seen = await collect(session, Seen(), updated_after_connect)
        await send_speech(session, silence(300) + speech_pcm24k("tell me a story")
                          + silence(1300))
        await collect(session, seen, lambda s: bool(s.of("audio")))
        await send_speech(session, speech_pcm24k("stop") + silence(1300))
        await collect(session, seen, lambda s: bool(s.of("audio_interrupted")))
        await collect(session, seen, lambda s: s.count("conversation.item.truncated") >= 1)
        await collect(session, seen, lambda s: s.count("response.done") >= 2)
    finally:
        await close(session)

    assert seen.errors == []
    done = [e["response"] for e in seen.raw if e["type"] == "response.done"]
    assert done[0]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert done[1]["status"] == "completed"
