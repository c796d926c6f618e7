"""The beta dialect end to end: openai-python's beta client (``client.beta.realtime``, which sends
``OpenAI-Beta: realtime=v1``) against the real server, and a raw WebSocket that asks for beta by
subprotocol (EVENTS.md §1.3, §5, §7).

Every frame received is checked against openai-python's *beta* server-event models
(``check_beta_frame``) and the 1 MiB limit of the official clients.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from conftest import MIB, TIMEOUT, AudioServer, RunningServer, check_server_frame
from events import only, types
from llm_backend import PROMPT_TOKENS, fragments
from speech import chunks, silence, speech_pcm24k
from websockets.asyncio.client import connect as ws_connect

Event = dict[str, Any]
BETA_MODEL = "gpt-4o-realtime-preview"  # a model name the beta SDK's session model allows

WEATHER_TOOL = {
    # Beta function tools may leave out ``type``.
    "name": "get_weather", "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
}


@functools.cache
def _adapters() -> tuple[Any, Any]:
    from openai.types.beta.realtime import RealtimeServerEvent, TranscriptionSession
    from pydantic import TypeAdapter

    return TypeAdapter(RealtimeServerEvent), TypeAdapter(TranscriptionSession)


def check_beta_frame(raw: str | bytes) -> Event:
    """Decode one server frame and validate it as a beta server event; return the dict."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    assert size < MIB, f"server frame of {size} bytes exceeds 1 MiB"
    event = json.loads(raw)
    assert isinstance(event, dict), event
    assert isinstance(event.get("event_id"), str) and event["event_id"], event
    events, transcription_session = _adapters()
    if event["type"] == "transcription_session.created":
        # Documented (EVENTS.md §5) but missing from openai-python's beta union.
        transcription_session.validate_python(event["session"])
        return event
    # The union is discriminated by ``type``: a GA-only event name fails here.
    model = events.validate_python(event)
    assert model.type == event["type"], event
    if "session" in event:
        assert "type" not in event["session"] and "audio" not in event["session"], event
    return event


@dataclass
class BetaClient:
    conn: Any
    events: list[Event] = field(default_factory=list)

    async def recv(self, wait: float = TIMEOUT) -> Event:
        async with asyncio.timeout(wait):
            raw = await self.conn.recv_bytes()
        event = check_beta_frame(raw)
        self.events.append(event)
        return event

    async def recv_until(self, kind: str, wait: float = TIMEOUT) -> list[Event]:
        out = []
        async with asyncio.timeout(wait):
            while True:
                out.append(await self.recv(wait))
                if out[-1]["type"] == kind:
                    return out

    async def send(self, event: Event) -> None:
        async with asyncio.timeout(TIMEOUT):
            await self.conn.send(event)

    async def send_raw(self, frame: str) -> None:
        async with asyncio.timeout(TIMEOUT):
            await self.conn._connection.send(frame)


@asynccontextmanager
async def beta_client(server: RunningServer, **query: str) -> AsyncIterator[BetaClient]:
    """Connect with openai-python's beta client; the first event is kept in ``events``."""
    from openai import AsyncOpenAI

    openai_client = AsyncOpenAI(api_key="k", base_url=f"{server.http_base}/v1",
                                websocket_base_url=server.ws_base)
    try:
        async with asyncio.timeout(TIMEOUT):
            manager = openai_client.beta.realtime.connect(
                model=BETA_MODEL, extra_query=query)
            conn = await manager.__aenter__()
        try:
            client = BetaClient(conn)
            await client.recv()
            yield client
        finally:
            async with asyncio.timeout(TIMEOUT):
                await manager.__aexit__(None, None, None)
    finally:
        await openai_client.close()




def user_text(text: str) -> Event:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def say(client: BetaClient, text: str) -> Event:
    await client.send({"type": "conversation.item.create", "item": user_text(text)})
    created = await client.recv()
    assert created["type"] == "conversation.item.created", created
    item: Event = created["item"]
    return item


async def turn(client: BetaClient, text: str, **response: Any) -> list[Event]:
    await say(client, text)
    await client.send({"type": "response.create", **({"response": response} if response else {})})
    return await client.recv_until("response.done")


def reply_text(events: list[Event]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.text.delta")


# --- session --------------------------------------------------------------------------------


async def test_session_update_in_beta_shape_is_answered_in_beta_shape(
        server: RunningServer) -> None:
    async with beta_client(server) as client:
        created = client.events[0]
        assert created["type"] == "session.created"
        session = created["session"]
        assert session["object"] == "realtime.session" and session["model"] == BETA_MODEL
        assert session["modalities"] == ["text"]  # this server has no speech output
        assert session["input_audio_format"] == session["output_audio_format"] == "pcm16"
        assert session["turn_detection"]["type"] == "server_vad"
        assert session["temperature"] == 0.8 and session["max_response_output_tokens"] == "inf"

        await client.send({"type": "session.update", "session": {
            "modalities": ["text"], "instructions": "Be brief.", "voice": "alloy",
            "input_audio_format": "g711_ulaw", "output_audio_format": "g711_alaw",
            "input_audio_transcription": {"model": "whisper-1", "language": "en"},
            "turn_detection": None, "input_audio_noise_reduction": {"type": "near_field"},
            "tools": [WEATHER_TOOL], "tool_choice": "get_weather", "temperature": 0.7,
            "max_response_output_tokens": 100, "speed": 1.2}})
        updated = (await client.recv())["session"]

    assert updated["modalities"] == ["text"] and updated["instructions"] == "Be brief."
    assert updated["voice"] == "alloy" and updated["speed"] == 1.2
    assert (updated["input_audio_format"], updated["output_audio_format"]) == (
        "g711_ulaw", "g711_alaw")
    assert updated["input_audio_transcription"] == {"model": "whisper-1", "language": "en"}
    assert updated["turn_detection"] is None
    assert updated["input_audio_noise_reduction"] == {"type": "near_field"}
    assert updated["tools"] == [{"type": "function", **WEATHER_TOOL}]
    assert updated["tool_choice"] == "get_weather"
    assert updated["temperature"] == 0.7 and updated["max_response_output_tokens"] == 100


# --- a text turn ----------------------------------------------------------------------------


async def test_text_turn_follows_the_beta_sequence(server: RunningServer) -> None:
    async with beta_client(server) as client:
        user = await say(client, "say: Hello there friend")
        assert (user["role"], user["status"]) == ("user", "completed")
        await client.send({"type": "response.create", "response": {
            "modalities": ["text"], "temperature": 0.9, "metadata": {"turn": "1"},
            "max_response_output_tokens": 50}})
        events = await client.recv_until("response.done")
        later = await turn(client, "say: again")

    assert types(events) == [
        "response.created", "response.output_item.added", "conversation.item.created",
        "response.content_part.added",
        "response.text.delta", "response.text.delta", "response.text.delta",
        "response.text.done", "response.content_part.done", "response.output_item.done",
        "response.done",
    ]
    created, added, conv_created, part_added = events[:4]
    item = added["item"]
    assert conv_created["item"] == item and conv_created["previous_item_id"] == user["id"]
    assert (item["role"], item["status"], item["content"]) == ("assistant", "in_progress", [])
    assert part_added["part"] == {"type": "text", "text": ""}
    assert reply_text(events) == events[7]["text"] == "Hello there friend"
    assert events[-2]["item"]["content"] == [{"type": "text", "text": "Hello there friend"}]
    for response in (created["response"], events[-1]["response"]):
        assert response["modalities"] == ["text"] and "output_modalities" not in response
        assert response["temperature"] == 0.9 and response["metadata"] == {"turn": "1"}
        assert response["max_output_tokens"] == 50
        assert response["output_audio_format"] == "pcm16"
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["output"] == [events[-2]["item"]]
    assert done["usage"]["input_tokens"] == PROMPT_TOKENS
    assert "image_tokens" not in done["usage"]["input_token_details"]
    # A response without its own temperature reports the session's.
    assert later[-1]["response"]["temperature"] == 0.8
    assert server.backend is not None
    assert server.backend.requests[0]["max_tokens"] == 50


# --- tools ----------------------------------------------------------------------------------


async def test_tool_call_round_trip(server: RunningServer) -> None:
    args = '{"city":"Paris"}'
    async with beta_client(server) as client:
        await client.send({"type": "session.update", "session": {
            "tools": [WEATHER_TOOL], "tool_choice": "auto"}})
        assert (await client.recv())["type"] == "session.updated"
        events = await turn(client, f"call: get_weather {args}")
        n = len(fragments(args))
        assert types(events) == [
            "response.created", "response.output_item.added", "conversation.item.created",
            *["response.function_call_arguments.delta"] * n,
            "response.function_call_arguments.done", "response.output_item.done",
            "response.done",
        ]
        call = events[-3]
        assert (call["call_id"], call["arguments"]) == ("call_w1", args) and "name" not in call
        item = events[-2]["item"]
        assert (item["type"], item["name"], item["status"]) == (
            "function_call", "get_weather", "completed")

        await client.send({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": "call_w1", "output": '{"temp_c":21}'}})
        created = await client.recv()
        assert created["type"] == "conversation.item.created"
        assert created["previous_item_id"] == item["id"]
        await client.send({"type": "response.create"})
        follow_up = await client.recv_until("response.done")
    assert reply_text(follow_up) == 'Tool said: {"temp_c":21}'


# --- cancel ---------------------------------------------------------------------------------


async def test_cancel_is_answered_by_a_cancelled_response_done(server: RunningServer) -> None:
    assert server.backend is not None
    async with beta_client(server) as client:
        await say(client, "hang")
        await client.send({"type": "response.create"})
        await client.recv_until("response.text.delta")
        async with asyncio.timeout(TIMEOUT):
            await server.backend.hanging.wait()
        await client.send({"type": "response.cancel"})
        events = await client.recv_until("response.done")
        assert types(events) == ["response.text.done", "response.content_part.done",
                                 "response.output_item.done", "response.done"]
        assert events[2]["item"]["status"] == "incomplete"
        assert events[-1]["response"]["status"] == "cancelled"
        assert events[-1]["response"]["status_details"] == {
            "type": "cancelled", "reason": "client_cancelled"}

        await client.send({"type": "response.cancel", "event_id": "evt_again"})
        error = (await client.recv())["error"]
        assert (error["code"], error["event_id"]) == ("response_cancel_not_active", "evt_again")


# --- speech ---------------------------------------------------------------------------------


async def test_spoken_turn_with_server_vad_then_truncate(audio_server: AudioServer) -> None:
    reply = "Sure, the weather is sunny and warm."
    assert audio_server.asr is not None
    audio_server.asr.answers.append(f"say: {reply}")
    async with beta_client(audio_server) as client:
        assert client.events[0]["session"]["modalities"] == ["text", "audio"]
        await client.send({"type": "session.update", "session": {
            "input_audio_transcription": {"model": "gpt-4o-transcribe"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
            "voice": "alloy"}})
        await client.recv_until("session.updated")
        pcm = silence(400) + speech_pcm24k("hello, could you tell me the weather") + silence(900)
        for piece in chunks(pcm, 20, 24000):
            await client.send({"type": "input_audio_buffer.append",
                               "audio": base64.b64encode(piece).decode()})
        events = await client.recv_until("response.done", wait=20)

        order = [k for k in types(events)
                 if not k.startswith("conversation.item.input_audio")]
        assert order[:8] == [
            "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed", "conversation.item.created", "response.created",
            "response.output_item.added", "conversation.item.created",
            "response.content_part.added"]
        assert order[-5:] == ["response.audio.done", "response.audio_transcript.done",
                              "response.content_part.done", "response.output_item.done",
                              "response.done"]
        assert set(order[8:-5]) == {"response.audio.delta", "response.audio_transcript.delta"}
        user = events[order.index("conversation.item.created")]["item"]
        assert user["content"] == [{"type": "input_audio", "transcript": None}]
        transcript = "".join(e["delta"] for e in events
                             if e["type"] == "response.audio_transcript.delta")
        assert transcript == only(events, "response.audio_transcript.done")["transcript"] == reply
        audio = b"".join(base64.b64decode(e["delta"]) for e in events
                         if e["type"] == "response.audio.delta")
        assert audio
        done = events[-1]["response"]
        assert done["modalities"] == ["text", "audio"] and done["voice"] == "alloy"
        item = done["output"][0]
        assert item["content"] == [{"type": "audio", "transcript": reply}]

        # The client heard 100 ms of it.
        await client.send({"type": "conversation.item.truncate", "item_id": item["id"],
                           "content_index": 0, "audio_end_ms": 100})
        truncated = (await client.recv_until("conversation.item.truncated"))[-1]
        assert (truncated["item_id"], truncated["audio_end_ms"]) == (item["id"], 100)
        await client.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
        got = (await client.recv_until("conversation.item.retrieved"))[-1]["item"]
        assert got["content"][0]["type"] == "audio"
        assert len(base64.b64decode(got["content"][0]["audio"])) == 100 * 48


async def test_transcription_session_in_beta_terms(audio_server: AudioServer) -> None:
    asr = audio_server.asr
    assert asr is not None
    asr.answers.append("Write down the shopping list.")
    async with beta_client(audio_server, intent="transcription") as client:
        created = client.events[0]
        assert created["type"] == "transcription_session.created"
        assert created["session"]["object"] == "realtime.transcription_session"
        await client.send({"type": "transcription_session.update", "event_id": "evt_t",
                           "session": {
            "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
            "input_audio_format": "pcm16"}})
        updated = (await client.recv_until("transcription_session.updated"))[-1]["session"]
        transcription = updated["input_audio_transcription"]
        assert (transcription["model"], transcription["language"]) == ("gpt-4o-transcribe", "en")
        assert updated["turn_detection"]["silence_duration_ms"] == 500
        pcm = silence(400) + speech_pcm24k("write down the shopping list") + silence(900)
        for piece in chunks(pcm, 20, 24000):
            await client.send({"type": "input_audio_buffer.append",
                               "audio": base64.b64encode(piece).decode()})
        events = await client.recv_until(
            "conversation.item.input_audio_transcription.completed", wait=20)
        # A realtime-shaped update is refused: the session keeps its type.
        await client.send({"type": "session.update", "event_id": "evt_s",
                           "session": {"instructions": "x"}})
        error = (await client.recv_until("error"))[-1]["error"]
    assert error["event_id"] == "evt_s"
    assert types(events) == [
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed", "conversation.item.created",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed"]
    assert events[-1]["transcript"] == "Write down the shopping list."
    assert asr.last.language == "en"


# --- bad input ------------------------------------------------------------------------------


async def test_bad_input_gets_errors_in_beta_terms_and_the_session_goes_on(
        server: RunningServer) -> None:
    async with beta_client(server) as client:
        await client.send_raw("not json")
        assert (await client.recv())["error"]["code"] == "invalid_json"

        await client.send_raw(json.dumps({"type": "no.such.event", "event_id": "evt_u"}))
        error = (await client.recv())["error"]
        assert (error["code"], error["param"], error["event_id"]) == (
            "invalid_value", "type", "evt_u")
        assert "transcription_session.update" in error["message"]

        bad_sessions: list[tuple[Event, str]] = [
            ({"input_audio_format": "mp3"}, "session.input_audio_format"),
            ({"temperature": 2}, "session.temperature"),
            ({"modalities": ["video"]}, "session.modalities[0]"),
            # Checked by the GA core, reported with the beta name.
            ({"turn_detection": {"type": "server_vad", "threshold": 5}},
             "session.turn_detection.threshold"),
            ({"max_response_output_tokens": 0}, "session.max_response_output_tokens"),
            ({"no_such_field": 1}, "session.no_such_field"),
        ]
        for i, (session, param) in enumerate(bad_sessions):
            await client.send_raw(json.dumps({"type": "session.update", "event_id": f"evt_{i}",
                                              "session": session}))
            error = (await client.recv())["error"]
            assert (error["param"], error["event_id"]) == (param, f"evt_{i}"), error

        await client.send_raw(json.dumps({"type": "response.create", "event_id": "evt_r",
                                          "response": {"output_audio_format": "wav"}}))
        error = (await client.recv())["error"]
        assert (error["param"], error["event_id"]) == ("response.output_audio_format", "evt_r")

        # The refused updates changed nothing, not even the beta-only temperature.
        events = await turn(client, "say: still fine")
    assert reply_text(events) == "still fine"
    assert events[-1]["response"]["temperature"] == 0.8


# --- handshake ------------------------------------------------------------------------------


async def test_raw_socket_asks_for_beta_by_subprotocol(server: RunningServer) -> None:
    async with asyncio.timeout(TIMEOUT), ws_connect(
            f"{server.realtime_url}",
            subprotocols=["realtime", "openai-beta.realtime-v1"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "realtime"
        created = check_beta_frame(await ws.recv())
        assert created["session"]["object"] == "realtime.session"
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {
            "type": "message", "role": "assistant",
            "content": [{"type": "text", "text": "Earlier reply."}]}}))
        item = check_beta_frame(await ws.recv())
        assert item["type"] == "conversation.item.created"
        assert item["item"]["content"] == [{"type": "text", "text": "Earlier reply."}]
        await ws.send(json.dumps({"type": "conversation.item.create",
                                  "item": user_text("say: by subprotocol")}))
        check_beta_frame(await ws.recv())
        await ws.send(json.dumps({"type": "response.create"}))
        events = [check_beta_frame(await ws.recv())]
        while events[-1]["type"] != "response.done":
            events.append(check_beta_frame(await ws.recv()))
    assert reply_text(events) == "by subprotocol"


async def test_without_beta_the_connection_stays_ga(server: RunningServer) -> None:
    async with asyncio.timeout(TIMEOUT), ws_connect(
            server.realtime_url, subprotocols=["realtime"]) as ws:  # type: ignore[list-item]
        created = check_server_frame(await ws.recv())
        assert created["session"]["type"] == "realtime"


async def test_ga_shaped_first_update_under_the_beta_header_means_ga(
        server: RunningServer) -> None:
    # openai-node 5.17-5.23 sent the beta header from its GA classes (EVENTS.md §1.3).
    async with asyncio.timeout(TIMEOUT), ws_connect(
            server.realtime_url, additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
        check_beta_frame(await ws.recv())
        await ws.send(json.dumps({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["text"]}}))
        updated = check_server_frame(await ws.recv())
        assert updated["session"]["output_modalities"] == ["text"]
        await ws.send(json.dumps({"type": "conversation.item.create",
                                  "item": user_text("say: ga")}))
        assert check_server_frame(await ws.recv())["type"] == "conversation.item.added"
