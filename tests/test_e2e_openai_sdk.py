"""End to end with the official openai-python SDK: a real openrealtime server on a loopback
port, in front of the fixture Chat Completions backend.

Every server event received goes through ``check_server_frame`` (conftest): it must parse as
openai-python's ``RealtimeServerEvent`` and fit in 1 MiB.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import websockets
from conftest import (
    API_KEY,
    TIMEOUT,
    RealtimeClient,
    RunningServer,
    run_server,
    server_settings,
)
from events import types
from llm_backend import PROMPT_TOKENS, LLMBackend, fragments
from websockets.asyncio.client import connect as ws_connect

Event = dict[str, Any]

WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
}


def user_text(text: str) -> Event:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def say(client: RealtimeClient, text: str) -> Event:
    """Add a user message; return its item (after ``conversation.item.added``/``.done``)."""
    await client.send({"type": "conversation.item.create", "item": user_text(text)})
    added, done = await client.recv(), await client.recv()
    assert [added["type"], done["type"]] == ["conversation.item.added", "conversation.item.done"]
    assert added["item"]["id"] == done["item"]["id"]
    item: Event = done["item"]
    return item


async def turn(client: RealtimeClient, text: str, **response: Any) -> list[Event]:
    """A user message then ``response.create``: the events up to ``response.done``."""
    await say(client, text)
    await client.send({"type": "response.create", **({"response": response} if response else {})})
    return await client.recv_until("response.done")



def reply_text(events: list[Event]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


# --- a text turn ----------------------------------------------------------------------------


async def test_session_update_and_text_turn_follow_the_documented_sequence(
        server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        await client.send({"type": "session.update", "session": {
            "type": "realtime", "instructions": "Be brief.", "output_modalities": ["text"]}})
        updated = await client.recv()
        assert updated["type"] == "session.updated"
        assert updated["session"]["instructions"] == "Be brief."
        assert updated["session"]["output_modalities"] == ["text"]

        user = await say(client, "say: Hello there friend")
        assert user["status"] == "completed" and user["role"] == "user"
        await client.send({"type": "response.create"})
        events = await client.recv_until("response.done")

    assert types(events) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    created, added, conv_added, part_added = events[:4]
    text_done, part_done, item_done, conv_done, done = events[-5:]
    rid = created["response"]["id"]
    assert created["response"]["status"] == "in_progress"
    assert created["response"]["output"] == [] and created["response"]["usage"] is None
    assert created["response"]["conversation_id"]
    assert created["response"]["output_modalities"] == ["text"]

    item = added["item"]
    iid = item["id"]
    assert (item["type"], item["role"], item["status"], item["content"]) == (
        "message", "assistant", "in_progress", [])
    assert conv_added["item"] == item and conv_added["previous_item_id"] == user["id"]
    assert part_added["part"] == {"type": "text", "text": ""}
    for event in events[1:-1]:
        if "response_id" in event:
            assert event["response_id"] == rid
        if "item_id" in event:
            assert event["item_id"] == iid
        if "output_index" in event:
            assert event["output_index"] == 0
        if "content_index" in event:
            assert event["content_index"] == 0

    text = reply_text(events)
    assert text == "Hello there friend"
    assert text_done["text"] == text
    assert part_done["part"] == {"type": "text", "text": text}
    assert item_done["item"]["status"] == "completed"
    assert item_done["item"]["content"] == [{"type": "output_text", "text": text}]
    assert conv_done["item"] == item_done["item"]

    response = done["response"]
    assert response["id"] == rid and response["status"] == "completed"
    assert response["status_details"] is None
    assert response["output"] == [item_done["item"]]
    assert response["usage"]["input_tokens"] == PROMPT_TOKENS
    assert response["usage"]["output_tokens"] == 3
    assert response["usage"]["total_tokens"] == PROMPT_TOKENS + 3

    assert server.backend.last["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "say: Hello there friend"},
    ]


async def test_second_turn_sees_the_first_reply(server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        await turn(client, "say: first answer")
        events = await turn(client, "say: second answer")
    assert reply_text(events) == "second answer"
    assert server.backend.last["messages"] == [
        {"role": "user", "content": "say: first answer"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "say: second answer"},
    ]


# --- function calling -----------------------------------------------------------------------


async def test_tool_call_round_trip(server: RunningServer, connect: Any) -> None:
    args = '{"city":"Paris"}'
    async with connect(server) as client:
        await client.send({"type": "session.update", "session": {
            "type": "realtime", "tools": [WEATHER_TOOL], "tool_choice": "auto"}})
        assert (await client.recv())["type"] == "session.updated"
        events = await turn(client, f"call: get_weather {args}")

        n = len(fragments(args))
        assert types(events) == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            *["response.function_call_arguments.delta"] * n,
            "response.function_call_arguments.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        item = events[1]["item"]
        assert (item["type"], item["name"], item["call_id"], item["arguments"],
                item["status"]) == ("function_call", "get_weather", "call_w1", "", "in_progress")
        deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
        assert all(d["call_id"] == "call_w1" and d["item_id"] == item["id"] for d in deltas)
        assert "".join(d["delta"] for d in deltas) == args
        args_done = events[-4]
        assert (args_done["name"], args_done["call_id"], args_done["arguments"],
                args_done["item_id"]) == ("get_weather", "call_w1", args, item["id"])
        item_done = events[-3]["item"]
        assert item_done["status"] == "completed" and item_done["arguments"] == args
        assert events[-2]["item"] == item_done
        done = events[-1]["response"]
        assert done["status"] == "completed" and done["output"] == [item_done]

        body = server.backend.last
        assert body["tools"] == [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather in a city.",
            "parameters": WEATHER_TOOL["parameters"]}}]
        assert body["tool_choice"] == "auto"

        # The client runs the tool and sends its output; the server does not go on by itself.
        await client.send({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": "call_w1", "output": '{"temp_c":21}'}})
        added = await client.recv()
        assert added["type"] == "conversation.item.added"
        assert added["item"]["type"] == "function_call_output"
        assert added["previous_item_id"] == item["id"]
        assert (await client.recv())["type"] == "conversation.item.done"
        await client.send({"type": "response.create"})
        follow_up = await client.recv_until("response.done")

    assert reply_text(follow_up) == 'Tool said: {"temp_c":21}'
    assert follow_up[-1]["response"]["status"] == "completed"
    assert server.backend.last["messages"] == [
        {"role": "user", "content": f"call: get_weather {args}"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_w1", "type": "function",
             "function": {"name": "get_weather", "arguments": args}}]},
        {"role": "tool", "tool_call_id": "call_w1", "content": '{"temp_c":21}'},
    ]
    assert server.backend.invalid == []


async def test_parallel_tool_calls(server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        events = await turn(client, "two calls", tools=[WEATHER_TOOL])
        items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        assert [(e["output_index"]) for e in events
                if e["type"] == "response.output_item.added"] == [0, 1]
        assert [(i["call_id"], i["status"], json.loads(i["arguments"])) for i in items] == [
            ("call_p1", "completed", {"city": "Paris"}),
            ("call_p2", "completed", {"city": "Tokyo"})]
        assert events[-1]["response"]["output"] == items
        for call_id, out in (("call_p1", "rain"), ("call_p2", "sun")):
            await client.send({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": call_id, "output": out}})
            await client.recv_until("conversation.item.done")
        await client.send({"type": "response.create", "response": {"tools": [WEATHER_TOOL]}})
        follow_up = await client.recv_until("response.done")
    assert reply_text(follow_up) == "Tool said: rain sun"
    messages = server.backend.last["messages"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_p1", "call_p2"]
    assert messages[2:] == [{"role": "tool", "tool_call_id": "call_p1", "content": "rain"},
                            {"role": "tool", "tool_call_id": "call_p2", "content": "sun"}]
    assert server.backend.invalid == []


async def test_ignored_tool_call_does_not_break_the_next_turn(
        server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        await turn(client, 'call: get_weather {"city":"Oslo"}', tools=[WEATHER_TOOL])
        events = await turn(client, "say: never mind")
    assert events[-1]["response"]["status"] == "completed"
    assert reply_text(events) == "never mind"
    assert server.backend.invalid == []


# --- cancel ---------------------------------------------------------------------------------


async def test_cancel_mid_stream_closes_the_backend_stream(
        server: RunningServer, connect: Any) -> None:
    backend = server.backend
    async with connect(server) as client:
        await say(client, "hang")
        await client.send({"type": "response.create"})
        before = await client.recv_until("response.output_text.delta")
        rid = before[0]["response"]["id"]
        async with asyncio.timeout(TIMEOUT):
            await backend.hanging.wait()
        await client.send({"type": "response.cancel", "event_id": "evt_cancel"})
        events = await client.recv_until("response.done")
        assert types(events) == [
            "response.output_text.done", "response.content_part.done",
            "response.output_item.done", "conversation.item.done", "response.done"]
        assert events[0]["text"] == "Partial "
        assert events[2]["item"]["status"] == "incomplete"
        response = events[-1]["response"]
        assert response["id"] == rid and response["status"] == "cancelled"
        assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        async with asyncio.timeout(TIMEOUT):
            await backend.disconnected.wait()

        # Nothing active now: the error echoes the event id; the session goes on.
        await client.send({"type": "response.cancel", "event_id": "evt_again"})
        error = await client.recv()
        assert error["type"] == "error"
        assert error["error"]["code"] == "response_cancel_not_active"
        assert error["error"]["event_id"] == "evt_again"

        events = await turn(client, "say: still here")
        assert reply_text(events) == "still here"
    # The partial reply stayed in the conversation.
    assert backend.last["messages"][:2] == [{"role": "user", "content": "hang"},
                                            {"role": "assistant", "content": "Partial "}]


async def test_closing_the_socket_mid_response_closes_the_backend_stream(
        server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        await say(client, "hang")
        await client.send({"type": "response.create"})
        await client.recv_until("response.output_text.delta")
    async with asyncio.timeout(TIMEOUT):
        await server.backend.disconnected.wait()


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "attempts"), [("fail 400", 1), ("fail 500", 3)])
async def test_backend_failure_fails_the_response_and_the_session_goes_on(
        server: RunningServer, connect: Any, text: str, attempts: int) -> None:
    async with connect(server) as client:
        events = await turn(client, text)
        # Errors outside the response (an ``error`` event) are allowed but not required.
        events = [e for e in events if e["type"] != "error"]
        assert types(events) == ["response.created", "response.done"]
        response = events[-1]["response"]
        assert response["status"] == "failed" and response["output"] == []
        details = response["status_details"]
        assert details["type"] == "failed"
        assert details["error"]["code"] == "llm_http_error"
        assert details["error"]["type"]
        assert server.backend.attempts(text) == attempts

        events = await turn(client, "say: recovered")
        assert events[-1]["response"]["status"] == "completed"
        assert reply_text(events) == "recovered"


async def test_malformed_stream_closes_the_partial_item(
        server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        events = await turn(client, "malformed")
        done = events[-1]["response"]
        assert done["status"] == "failed"
        assert done["status_details"]["error"]["code"] == "llm_malformed_stream"
        assert [i["status"] for i in done["output"]] == ["incomplete"]
        assert done["output"][0]["content"] == [{"type": "output_text", "text": "Partial "}]
        assert "response.output_item.done" in types(events)
        events = await turn(client, "say: fine")
        assert reply_text(events) == "fine"


async def test_unreachable_backend_fails_the_response(backend: LLMBackend, connect: Any) -> None:
    await backend.close()  # its port is now closed
    async with run_server(server_settings(backend, llm_api_key=None)) as port:
        async with connect(RunningServer(port, backend)) as client:
            events = await turn(client, "say: anyone?")
    details = events[-1]["response"]["status_details"]
    assert details["error"]["code"] == "llm_unreachable"


# --- bad input ------------------------------------------------------------------------------


async def test_bad_input_gets_error_events_and_the_session_goes_on(
        server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        await client.send_raw("this is not json")
        error = (await client.recv())["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_json"

        await client.send_raw(b"\x00\x01binary")
        error = (await client.recv())["error"]
        assert error["code"] == "invalid_event"

        await client.send_raw(json.dumps({"type": "no.such.event", "event_id": "evt_u"}))
        error = (await client.recv())["error"]
        assert error["event_id"] == "evt_u" and error["param"] == "type"

        await client.send_raw(json.dumps({"type": "conversation.item.create",
                                          "event_id": "evt_b",
                                          "item": {"type": "message", "role": "user",
                                                   "content": "not a list"}}))
        error = (await client.recv())["error"]
        assert error["event_id"] == "evt_b" and error["param"] == "item.content"
        assert error["code"] == "invalid_type"

        await client.send_raw(json.dumps({"type": "response.create", "event_id": "evt_m",
                                          "response": {"max_output_tokens": -3}}))
        error = (await client.recv())["error"]
        assert error["event_id"] == "evt_m" and error["param"] == "response.max_output_tokens"

        await client.send({"type": "conversation.item.delete", "item_id": "item_nope",
                           "event_id": "evt_d"})
        error = (await client.recv())["error"]
        assert error["event_id"] == "evt_d"
        assert error["code"] == "item_delete_invalid_item_id"

        events = await turn(client, "say: still fine")
        assert reply_text(events) == "still fine"


async def test_second_response_while_one_is_active_is_refused(
        server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        await say(client, "hang")
        await client.send({"type": "response.create"})
        await client.recv_until("response.output_text.delta")
        await client.send({"type": "response.create", "event_id": "evt_second"})
        error = await client.recv()
        assert error["type"] == "error"
        assert error["error"]["code"] == "conversation_already_has_active_response"
        assert error["error"]["event_id"] == "evt_second"
        await client.send({"type": "response.cancel"})
        done = (await client.recv_until("response.done"))[-1]
        assert done["response"]["status"] == "cancelled"


async def test_oversized_echo_is_refused_rather_than_sent(
        server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        big = "x" * (1024 * 1024 + 10)
        await client.send({"type": "conversation.item.create", "event_id": "evt_big",
                           "item": user_text(big)})
        error = await client.recv()  # the check in ``recv`` asserts it is under 1 MiB
        assert error["type"] == "error" and error["error"]["event_id"] == "evt_big"
        events = await turn(client, "say: small")
        assert reply_text(events) == "small"
    assert all(len(m["content"]) < 1000 for m in server.backend.last["messages"])


# --- out-of-band and limits -----------------------------------------------------------------


async def test_out_of_band_response_with_metadata(server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        await say(client, "say: in band")
        await client.send({"type": "response.create", "response": {
            "conversation": "none", "metadata": {"topic": "classification"},
            "output_modalities": ["text"], "instructions": "Classify.",
            "input": [user_text("say: positive")]}})
        events = await client.recv_until("response.done")
        assert "conversation.item.added" not in types(events)
        assert "conversation.item.done" not in types(events)
        created, done = events[0]["response"], events[-1]["response"]
        assert created["metadata"] == done["metadata"] == {"topic": "classification"}
        assert not created.get("conversation_id")
        assert done["status"] == "completed"
        assert done["output"][0]["content"] == [{"type": "output_text", "text": "positive"}]
        assert server.backend.last["messages"] == [
            {"role": "system", "content": "Classify."},
            {"role": "user", "content": "say: positive"}]

        # The default conversation was not touched.
        await client.send({"type": "response.create"})
        events = await client.recv_until("response.done")
    assert server.backend.last["messages"] == [{"role": "user", "content": "say: in band"}]
    assert reply_text(events) == "in band"


async def test_out_of_band_runs_beside_an_active_response(
        server: RunningServer, connect: Any) -> None:
    async with connect(server) as client:
        await say(client, "hang")
        await client.send({"type": "response.create"})
        first = await client.recv_until("response.output_text.delta")
        in_band = first[0]["response"]["id"]
        await client.send({"type": "response.create", "response": {
            "conversation": "none", "metadata": {"k": "v"}, "input": [user_text("say: side")]}})
        events = await client.recv_until("response.done")
        done = events[-1]["response"]
        assert done["id"] != in_band and done["metadata"] == {"k": "v"}
        assert reply_text(events) == "side"
        await client.send({"type": "response.cancel", "response_id": in_band})
        events = await client.recv_until("response.done")
        assert events[-1]["response"]["id"] == in_band
        assert events[-1]["response"]["status"] == "cancelled"


@pytest.mark.parametrize("where", ["response", "session"])
async def test_max_output_tokens_makes_the_response_incomplete(
        server: RunningServer, connect: Any, where: str) -> None:
    async with connect(server) as client:
        if where == "session":
            await client.send({"type": "session.update", "session": {
                "type": "realtime", "max_output_tokens": 2}})
            assert (await client.recv())["session"]["max_output_tokens"] == 2
            events = await turn(client, "say: one two three four")
        else:
            events = await turn(client, "say: one two three four", max_output_tokens=2)
    assert reply_text(events) == "one two "
    response = events[-1]["response"]
    assert response["status"] == "incomplete"
    assert response["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"
    assert response["max_output_tokens"] == 2
    assert server.backend.last["max_tokens"] == 2


# --- transport: auth, subprotocol, health ---------------------------------------------------


async def handshake_status(url: str, **kwargs: Any) -> int:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with asyncio.timeout(TIMEOUT):
            async with ws_connect(url, **kwargs):
                pass
    return info.value.response.status_code


async def test_missing_or_wrong_key_is_refused_before_upgrade(
        secured_server: RunningServer) -> None:
    url = secured_server.realtime_url
    assert await handshake_status(url) == 401
    assert await handshake_status(
        url, additional_headers={"Authorization": "Bearer wrong"}) == 401
    assert await handshake_status(
        url, subprotocols=["realtime", "openai-insecure-api-key.wrong"]) == 401
    # The refusal is a plain HTTP answer with OpenAI's error body.
    async with aiohttp.ClientSession() as http, asyncio.timeout(TIMEOUT):
        async with http.get(url, headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                          "Sec-WebSocket-Version": "13",
                                          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
                            ) as resp:
            assert resp.status == 401
            body = await resp.json()
    assert body["error"]["code"] == "invalid_api_key"


async def test_past_max_sessions_a_handshake_gets_503_and_a_slot_frees_on_close(
        backend: LLMBackend, connect: Any) -> None:
    async with run_server(server_settings(backend, max_sessions=1)) as port:
        running = RunningServer(port, backend)
        async with connect(running) as first:
            assert await handshake_status(running.realtime_url) == 503
            # One count for every transport: a WebRTC call is refused too.
            async with aiohttp.ClientSession() as http, http.post(
                    f"{running.http_base}/v1/realtime/calls", data="v=0\r\n",
                    headers={"Content-Type": "application/sdp"}) as resp:
                assert resp.status == 503
                assert (await resp.json())["error"]["code"] == "server_busy"
            # The session already open is untouched by the refusal.
            assert reply_text(await turn(first, "say: still here")) == "still here"
        # Its slot is free again once it closes (the server sees the close asynchronously).
        async with asyncio.timeout(TIMEOUT):
            while True:
                try:
                    async with connect(running) as second:
                        assert reply_text(await turn(second, "say: next")) == "next"
                    break
                except websockets.InvalidStatus as err:
                    assert err.response.status_code == 503
                    await asyncio.sleep(0.01)


async def test_sdk_with_wrong_key_is_refused(secured_server: RunningServer,
                                             connect: Any) -> None:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(secured_server, api_key="wrong"):
            pass
    assert info.value.response.status_code == 401


async def test_sdk_bearer_key_works(secured_server: RunningServer, connect: Any) -> None:
    async with connect(secured_server, api_key=API_KEY) as client:
        events = await turn(client, "say: authorised")
    assert reply_text(events) == "authorised"


async def test_subprotocol_key_works_and_realtime_is_echoed(
        secured_server: RunningServer, check_frame: Any) -> None:
    async with asyncio.timeout(TIMEOUT), ws_connect(
            secured_server.realtime_url,
            subprotocols=["realtime", f"openai-insecure-api-key.{API_KEY}"],
    ) as ws:
        assert ws.subprotocol == "realtime"
        created = check_frame(await ws.recv())
        assert created["type"] == "session.created"
        assert created["session"]["model"] == "gpt-realtime"


async def test_open_server_accepts_any_client(server: RunningServer, check_frame: Any) -> None:
    async with asyncio.timeout(TIMEOUT), ws_connect(
            f"{server.ws_base}/realtime", subprotocols=["realtime"]) as ws:
        assert ws.subprotocol == "realtime"
        created = check_frame(await ws.recv())
        assert created["session"]["model"] == "gpt-realtime"  # the default without ?model=


async def test_healthz(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(TIMEOUT):
        async with http.get(f"{server.http_base}/healthz") as resp:
            assert resp.status == 200
            assert await resp.text() == "ok"
