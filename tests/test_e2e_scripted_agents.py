"""End to end with the scripted engine: what a user testing their voice app in CI would do.

A real openrealtime server answers from examples/scripted-rules.yaml; an app built on the
openai-agents SDK (and one on plain openai-python) talks to it. The rules call the app's tool,
the app runs it, and the scripted reply after it reads the tool's output.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner
from conftest import TIMEOUT, RealtimeClient, RunningServer, realtime_client, run_server
from test_e2e_agents import Seen, assistant_texts, collect

from openrealtime.config import load_settings

EXAMPLE = Path(__file__).parent.parent / "examples" / "scripted-rules.yaml"
CALL_ID = re.compile(r"call_[A-Za-z0-9]{16}")

Event = dict[str, Any]


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    # Through the real settings: --llm-rules alone selects the scripted engine.
    settings = load_settings({"port": "0", "llm_rules": str(EXAMPLE), "asr_engine": "none",
                              "tts_engine": "none"}, {})
    async with run_server(settings) as port:
        yield RunningServer(port)


# --- openai-agents ----------------------------------------------------------------------------


async def test_an_agent_runs_the_scripted_tool_call_and_hears_the_scripted_reply(
        server: RunningServer) -> None:
    cities: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        cities.append(city)
        return f"Sunny in {city}"

    agent = RealtimeAgent(name="helper", instructions="Be helpful.", tools=[get_weather])
    async with asyncio.timeout(TIMEOUT):
        session = await RealtimeRunner(starting_agent=agent).run(model_config={
            "url": server.realtime_url, "api_key": "k",
            "initial_model_settings": {"output_modalities": ["text"]},
        })
        await session.enter()
    expected = "Here is the weather: Sunny in Paris"
    try:
        seen = await collect(session, Seen(), lambda s: s.count("session.updated") >= 1)
        async with asyncio.timeout(TIMEOUT):
            await session.send_message("What's the weather in Paris?")
        await collect(session, seen, lambda s: s.count("response.done") >= 2)
        await collect(session, seen, lambda s: expected in assistant_texts(session))
    finally:
        async with asyncio.timeout(TIMEOUT):
            await session.close()

    assert seen.errors == []
    assert cities == ["Paris"]
    assert [e.tool.name for e in seen.of("tool_start")] == ["get_weather"]
    assert [e.output for e in seen.of("tool_end")] == ["Sunny in Paris"]
    done = [e["response"] for e in seen.raw if e["type"] == "response.done"]
    assert [d["status"] for d in done] == ["completed", "completed"]
    call = done[0]["output"][0]
    assert (call["type"], call["name"], json.loads(call["arguments"])) == (
        "function_call", "get_weather", {"city": "Paris"})
    assert CALL_ID.fullmatch(call["call_id"])
    assert assistant_texts(session)[-1] == expected


# --- openai-python ----------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
}
BOOK_TOOL = {"type": "function", "name": "book_table", "parameters": {"type": "object"}}


async def turn(client: RealtimeClient, item: Event) -> list[Event]:
    """Add an item, ask for a response: the events up to ``response.done``."""
    await client.send({"type": "conversation.item.create", "item": item})
    await client.recv_until("conversation.item.done")
    await client.send({"type": "response.create"})
    return await client.recv_until("response.done")


def user(text: str) -> Event:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def test_openai_sdk_sees_the_scripted_call_its_arguments_and_the_reply_after(
        server: RunningServer) -> None:
    async with realtime_client(server) as client:
        await client.send({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["text"], "tools": [WEATHER_TOOL]}})
        await client.recv_until("session.updated")
        events = await turn(client, user("How is the weather in Lisbon?"))

        added = next(e for e in events if e["type"] == "response.output_item.added")["item"]
        assert (added["type"], added["name"]) == ("function_call", "get_weather")
        call_id = added["call_id"]
        assert CALL_ID.fullmatch(call_id)
        deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
        assert len(deltas) >= 2  # streamed in pieces, as a model's arguments are
        assert all(d["call_id"] == call_id and d["item_id"] == added["id"] for d in deltas)
        args_done = next(e for e in events
                         if e["type"] == "response.function_call_arguments.done")
        assert "".join(d["delta"] for d in deltas) == args_done["arguments"]
        assert json.loads(args_done["arguments"]) == {"city": "Lisbon"}
        done = events[-1]["response"]
        assert done["status"] == "completed"
        assert [o["type"] for o in done["output"]] == ["function_call"]
        assert done["usage"]["output_tokens"] > 0 and done["usage"]["input_tokens"] > 0

        follow_up = await turn(client, {"type": "function_call_output", "call_id": call_id,
                                        "output": "Foggy, 14 C"})

    text = "".join(e["delta"] for e in follow_up if e["type"] == "response.output_text.delta")
    assert text == "Here is the weather: Foggy, 14 C"
    assert follow_up[-1]["response"]["status"] == "completed"
    assert [e for e in client.events if e["type"] == "error"] == []


async def test_openai_sdk_gets_text_then_a_call_in_one_response(server: RunningServer) -> None:
    async with realtime_client(server) as client:
        await client.send({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["text"], "tools": [BOOK_TOOL]}})
        await client.recv_until("session.updated")
        events = await turn(client, user("Can you book a table for 6?"))

    output = events[-1]["response"]["output"]
    assert [o["type"] for o in output] == ["message", "function_call"]
    assert output[0]["content"][0]["text"] == "One moment, I'm booking it."
    assert json.loads(output[1]["arguments"]) == {"people": "6", "confirm": True}
    assert [e for e in client.events if e["type"] == "error"] == []
