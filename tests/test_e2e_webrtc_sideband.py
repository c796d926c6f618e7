"""Server-side controls of a WebRTC call, end to end: a real aiortc caller, and a sideband
WebSocket (openai-python's ``realtime.connect(call_id=…)``) joined to the same session; and
beta's WebRTC (``POST /v1/realtime?model=…``), whose data channel speaks beta.

Every event either side receives is checked against openai-python's models: GA on the
sideband and on GA calls, beta on the beta call's data channel.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from conftest import (
    TIMEOUT,
    RealtimeClient,
    RunningServer,
    realtime_client,
    run_server,
    server_settings,
)
from events import only, types
from llm_backend import LLMBackend

pytest.importorskip("aiortc")

from aiortc import RTCConfiguration, RTCPeerConnection  # noqa: E402
from test_e2e_beta import BETA_MODEL, check_beta_frame  # noqa: E402
from test_e2e_webrtc import Peer, call  # noqa: E402
from websockets.asyncio.client import connect as ws_connect  # noqa: E402
from websockets.exceptions import ConnectionClosedOK  # noqa: E402

from openrealtime.transports.webrtc_media import SpeakerTrack  # noqa: E402

Event = dict[str, Any]
WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
}


def sideband(server: RunningServer, call_id: str) -> Any:
    """openai-python's GA connection to a call (no ``session.created``: the call had it)."""
    return realtime_client(server, api_key=server.api_key or "k", model=None, created=False,
                           call_id=call_id)


async def joined(peer: Peer, side: RealtimeClient, instructions: str) -> None:
    """A sideband ``session.update``; both sides see its ``session.updated``. (The sideband's
    first event is this answer, not a replayed ``session.created``.)"""
    await side.send({"type": "session.update", "session": {
        "type": "realtime", "instructions": instructions}})
    updated = await side.recv()
    assert updated["type"] == "session.updated", updated
    assert updated["session"]["instructions"] == instructions
    seen = (await peer.recv_until("session.updated"))[-1]
    assert seen["session"] == updated["session"]


def user_text(text: str) -> Event:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def reply_text(events: list[Event]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


async def test_the_sideband_sees_the_call_and_configures_it(server: RunningServer) -> None:
    async with call(server) as peer:
        await peer.recv_until("session.created")
        async with sideband(server, peer.call_id) as side:
            await joined(peer, side, "Be brief.")
            peer.send({"type": "conversation.item.create", "item": user_text("say: Hi both")})
            peer.send({"type": "response.create"})
            on_call = await peer.recv_until("response.done")
            on_side = await side.recv_until("response.done")
        assert server.backend is not None
        assert server.backend.last["messages"][0] == {"role": "system", "content": "Be brief."}

    # The same events, in the same order, to both.
    assert types(on_side) == types(on_call)
    assert [e["event_id"] for e in on_side] == [e["event_id"] for e in on_call]
    assert types(on_side)[:2] == ["conversation.item.added", "conversation.item.done"]
    assert reply_text(on_side) == "Hi both"
    assert on_side[-1]["response"]["status"] == "completed"


async def test_the_sideband_answers_a_function_call_made_on_the_call(
        server: RunningServer) -> None:
    async with call(server) as peer:
        await peer.recv_until("session.created")
        async with sideband(server, peer.call_id) as side:
            # The tools live on the server side: the caller never sees their definitions sent.
            await side.send({"type": "session.update", "session": {
                "type": "realtime", "tools": [WEATHER_TOOL]}})
            await side.recv_until("session.updated")
            await peer.recv_until("session.updated")
            args = '{"city":"Paris"}'
            peer.send({"type": "conversation.item.create",
                       "item": user_text(f"call: get_weather {args}")})
            peer.send({"type": "response.create"})
            done = (await side.recv_until("response.done"))[-1]["response"]
            assert (await peer.recv_until("response.done"))[-1]["response"] == done
            fc = done["output"][0]
            assert (fc["type"], fc["name"], fc["arguments"]) == ("function_call", "get_weather",
                                                                 args)
            await side.send({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": fc["call_id"],
                "output": '{"temp_c":21}'}})
            await side.send({"type": "response.create"})
            follow_up = await peer.recv_until("response.done")
            assert only(await side.recv_until("response.done"), "response.done")[
                "response"]["id"] == follow_up[-1]["response"]["id"]

    assert reply_text(follow_up) == 'Tool said: {"temp_c":21}'
    added = [e["item"] for e in follow_up if e["type"] == "conversation.item.added"]
    assert added[0]["type"] == "function_call_output"  # the sideband's item, seen by the caller
    assert server.backend is not None and server.backend.invalid == []


async def test_an_audio_only_call_is_driven_by_its_sideband(server: RunningServer) -> None:
    # The caller offers audio and no data channel: the sideband is the call's only events.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(SpeakerTrack())
    try:
        await pc.setLocalDescription(await pc.createOffer())
        assert "m=application" not in pc.localDescription.sdp
        async with aiohttp.ClientSession() as http:
            resp = await http.post(f"{server.http_base}/v1/realtime/calls",
                                   data=pc.localDescription.sdp,
                                   headers={"Content-Type": "application/sdp"})
            assert resp.status == 201
            call_id = resp.headers["Location"].rsplit("/", 1)[1]
            async with sideband(server, call_id) as side:
                await side.send({"type": "conversation.item.create",
                                 "item": user_text("say: Only audio here")})
                await side.send({"type": "response.create"})
                events = await side.recv_until("response.done")
                assert reply_text(events) == "Only audio here"
                resp = await http.post(f"{server.http_base}/v1/realtime/calls/{call_id}/hangup")
                assert resp.status == 200
                with pytest.raises(ConnectionClosedOK):
                    await side.recv()
    finally:
        await pc.close()


async def test_sidebands_need_the_api_key_and_a_live_call(secured_server: RunningServer) -> None:
    url = f"{secured_server.http_base}/v1/realtime"
    key = {"Authorization": f"Bearer {secured_server.api_key}"}
    async with aiohttp.ClientSession() as http:
        # Refused before any upgrade, with a JSON body.
        resp = await http.get(url, params={"call_id": "rtc_nope"})
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_api_key"
        resp = await http.get(url, params={"call_id": "rtc_nope"}, headers=key)
        assert resp.status == 404
        error = (await resp.json())["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "call_id_not_found")
        async with call(secured_server) as peer:
            await peer.recv_until("session.created")
            resp = await http.get(url, params={"call_id": peer.call_id},
                                  headers={"Authorization": "Bearer wrong"})
            assert resp.status == 401


async def test_the_sideband_is_no_new_session_and_lives_within_the_call(
        backend: LLMBackend) -> None:
    async with run_server(server_settings(backend, max_sessions=1)) as port:
        server = RunningServer(port, backend)
        async with call(server) as peer:
            await peer.recv_until("session.created")
            async with aiohttp.ClientSession() as http:
                # The call holds the only place: a new session is refused…
                resp = await http.get(f"{server.http_base}/v1/realtime?model=gpt-realtime")
                assert resp.status == 503
                # …but the call's sideband joins it.
                async with sideband(server, peer.call_id) as side:
                    await joined(peer, side, "First.")
                # That sideband left; the call goes on.
                peer.send({"type": "conversation.item.create", "item": user_text("still here")})
                assert (await peer.recv_until("conversation.item.done"))[-1]["item"][
                    "content"][0]["text"] == "still here"

                async with sideband(server, peer.call_id) as side:
                    await joined(peer, side, "Second.")
                    resp = await http.post(
                        f"{server.http_base}/v1/realtime/calls/{peer.call_id}/hangup")
                    assert resp.status == 200
                    # The call ended: its sideband is closed, normally.
                    with pytest.raises(ConnectionClosedOK) as closed:
                        await side.recv()
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
                resp = await http.get(f"{server.http_base}/v1/realtime",
                                      params={"call_id": peer.call_id})
                assert resp.status == 404


async def test_a_sideband_that_asks_for_beta_gets_beta(server: RunningServer) -> None:
    async with call(server) as peer:
        await peer.recv_until("session.created")
        url = f"{server.ws_base}/realtime?call_id={peer.call_id}"
        async with asyncio.timeout(TIMEOUT), ws_connect(url, additional_headers={
                "Authorization": "Bearer k", "OpenAI-Beta": "realtime=v1"}) as side:
            await side.send(json.dumps({"type": "session.update", "session": {
                "instructions": "Beta here.", "temperature": 0.6}}))
            updated = check_beta_frame(await side.recv())
            # The caller speaks GA and hears GA.
            on_call = (await peer.recv_until("session.updated"))[-1]["session"]
    assert updated["type"] == "session.updated"
    assert updated["session"]["instructions"] == on_call["instructions"] == "Beta here."
    assert updated["session"]["temperature"] == 0.6


# --- beta's WebRTC --------------------------------------------------------------------------


async def test_a_beta_call_speaks_beta_on_its_data_channel(server: RunningServer) -> None:
    path = f"/v1/realtime?model={BETA_MODEL}"
    async with call(server, path=path, check=check_beta_frame) as peer:
        created = (await peer.recv_until("session.created"))[-1]["session"]
        assert created["model"] == BETA_MODEL and created["modalities"] == ["text"]
        assert created["temperature"] == 0.8
        # A beta session.update, beta's flat fields.
        peer.send({"type": "session.update", "session": {
            "instructions": "Be brief.", "temperature": 0.7, "turn_detection": None}})
        updated = (await peer.recv_until("session.updated"))[-1]["session"]
        assert updated["temperature"] == 0.7 and updated["turn_detection"] is None

        async with sideband(server, peer.call_id) as side:  # a GA sideband stays GA
            peer.send({"type": "conversation.item.create", "item": user_text("say: Hello beta")})
            peer.send({"type": "response.create", "response": {"modalities": ["text"]}})
            on_call = await peer.recv_until("response.done")
            on_side = await side.recv_until("response.done")

    assert "".join(e["delta"] for e in on_call if e["type"] == "response.text.delta") == (
        "Hello beta")
    assert on_call[-1]["response"]["temperature"] == 0.7
    assert reply_text(on_side) == "Hello beta"
    assert "response.text.delta" not in types(on_side)


async def test_beta_call_needs_the_key_and_an_offer(secured_server: RunningServer) -> None:
    url = f"{secured_server.http_base}/v1/realtime?model={BETA_MODEL}"
    peer = Peer(check_beta_frame)
    offer = await peer.offer()
    await peer.close()
    async with aiohttp.ClientSession() as http:
        resp = await http.post(url, data=offer, headers={"Content-Type": "application/sdp"})
        assert resp.status == 401
        resp = await http.post(url, data="hello", headers={
            "Authorization": f"Bearer {secured_server.api_key}",
            "Content-Type": "application/sdp"})
        assert resp.status == 400
        assert json.loads(await resp.text())["error"]["param"] == "sdp"
