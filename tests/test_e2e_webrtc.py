"""WebRTC end to end: a real aiortc peer calls the real server over the machine's own address.

The SDP goes over HTTP (``POST /v1/realtime/calls``), events over the ``oai-events`` data
channel (each checked against openai-python's GA models), and audio both ways as Opus RTP:
espeak speech into the client's track, the reply's speech out of the server's (EVENTS.md §1.6,
§4.2, §6.5). Media runs in real time, so the utterances are short.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import numpy as np
import pytest
from conftest import AudioServer, RunningServer, check_server_frame, run_server, server_settings
from events import only, types
from speech import silence, speech_pcm24k

pytest.importorskip("aiortc")

from aiortc import (  # noqa: E402
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError  # noqa: E402
from av import AudioFrame  # noqa: E402

from openrealtime.audio.spec import PCM24K  # noqa: E402
from openrealtime.transports.webrtc_media import SpeakerTrack  # noqa: E402

Event = dict[str, Any]
TIMEOUT = 20.0




class Peer:
    """The client side of a call: a microphone track, the received audio, the event channel."""

    def __init__(self, check: Callable[[str], Event] = check_server_frame) -> None:
        """``check`` validates each received event (GA by default)."""
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = SpeakerTrack()  # a paced 48 kHz source is just what a microphone is
        self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel("oai-events")
        self.opened = asyncio.Event()
        self.channel.on("open", self.opened.set)
        self.inbox: asyncio.Queue[Event] = asyncio.Queue()
        self.events: list[Event] = []
        self.channel.on("message", lambda m: self.inbox.put_nowait(check(m)))
        self.call_id = ""
        self.heard: list[float] = []  # peak level of each received 20 ms frame
        self.loud = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, AudioFrame)
            peak = float(np.abs(frame.to_ndarray().astype(np.int32)).max())
            self.heard.append(peak)
            if peak > 1000:
                self.loud.set()

    def say(self, text: str, before: int = 300, after: int = 900) -> None:
        self.mic.play(silence(before) + speech_pcm24k(text) + silence(after), PCM24K)

    def send(self, event: Event) -> None:
        self.channel.send(json.dumps(event))

    async def recv_until(self, kind: str, wait: float = TIMEOUT) -> list[Event]:
        out = []
        async with asyncio.timeout(wait):
            while True:
                event = await self.inbox.get()
                self.events.append(event)
                out.append(event)
                if event["type"] == kind:
                    return out

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()


@asynccontextmanager
async def call(server: RunningServer, session: Event | None = None, *,
               path: str = "/v1/realtime/calls",
               check: Callable[[str], Event] = check_server_frame) -> AsyncIterator[Peer]:
    """A connected call; ``session`` goes as the multipart ``session`` part. The peer's
    ``call_id`` is read from ``Location``."""
    peer = Peer(check)
    try:
        sdp = await peer.offer()
        async with aiohttp.ClientSession() as http:
            url = f"{server.http_base}{path}"
            headers = {"Authorization": f"Bearer {server.api_key or 'k'}"}
            if session is None:
                resp = await http.post(url, data=sdp, headers={
                    **headers, "Content-Type": "application/sdp"})
            else:
                form = aiohttp.FormData()
                form.add_field("sdp", sdp, content_type="application/sdp")
                form.add_field("session", json.dumps(session), content_type="application/json")
                resp = await http.post(url, data=form, headers=headers)
            assert resp.status == 201, await resp.text()
            assert resp.content_type == "application/sdp"
            assert resp.headers["Location"].startswith("/v1/realtime/calls/rtc_")
            peer.call_id = resp.headers["Location"].rsplit("/", 1)[1]
            answer = await resp.text()
        await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        async with asyncio.timeout(TIMEOUT):
            await peer.opened.wait()
        yield peer
    finally:
        await peer.close()


async def test_a_spoken_turn_over_webrtc_gets_a_transcript_and_a_spoken_reply(
        audio_server: AudioServer) -> None:
    assert audio_server.asr is not None
    audio_server.asr.answers.append("say: Hello there.")
    config = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
    async with call(audio_server, config) as peer:
        created = (await peer.recv_until("session.created"))[-1]["session"]
        # The multipart configuration is the session's from the start.
        assert created["audio"]["input"]["transcription"]["model"] == "whisper-1"
        assert created["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        peer.say("hello there")
        events = await peer.recv_until("input_audio_buffer.speech_stopped")
        assert "input_audio_buffer.speech_started" in types(events)
        events = await peer.recv_until("conversation.item.input_audio_transcription.completed")
        assert events[-1]["transcript"] == "say: Hello there."
        events = await peer.recv_until("output_audio_buffer.started")
        rid = events[-1]["response_id"]
        assert only(peer.events, "response.created")["response"]["id"] == rid
        async with asyncio.timeout(TIMEOUT):
            await peer.loud.wait()  # the reply's speech arrived as Opus RTP
        events = await peer.recv_until("output_audio_buffer.stopped")
        assert events[-1]["response_id"] == rid
        done = only(peer.events, "response.done")["response"]
        assert done["status"] == "completed"
        assert done["output"][0]["content"][0]["transcript"] == "Hello there."
        # Audio is media here: no deltas on the data channel.
        assert "response.output_audio.delta" not in types(peer.events)
        assert types(events).index("response.done") < len(events) - 1


async def test_barge_in_clears_the_speaker_and_truncates_to_what_was_played(
        audio_server: AudioServer) -> None:
    assert audio_server.asr is not None
    story = ("Once upon a time, there was a little robot who loved to sing songs about the "
             "stars and the sea, and every night it sang to the moon.")
    audio_server.asr.answers.extend([f"say: {story}", "say: Okay."])
    async with call(audio_server) as peer:
        await peer.recv_until("session.created")
        peer.say("tell me a story", after=700)
        rid = (await peer.recv_until("output_audio_buffer.started"))[-1]["response_id"]
        async with asyncio.timeout(TIMEOUT):
            await peer.loud.wait()
        peer.say("stop", before=0, after=700)
        events = await peer.recv_until("conversation.item.truncated")
        assert types(events).index("input_audio_buffer.speech_started") < types(events).index(
            "output_audio_buffer.cleared")
        assert only(events, "output_audio_buffer.cleared")["response_id"] == rid
        truncated = events[-1]
        assert truncated["content_index"] == 0
        # Cut where the speaker was: some of the story was heard, far from all of it.
        assert 300 < truncated["audio_end_ms"] < 6000
        peer.send({"type": "conversation.item.retrieve", "item_id": truncated["item_id"]})
        item = (await peer.recv_until("conversation.item.retrieved"))[-1]["item"]
        kept = item["content"][0]["transcript"]
        assert story.startswith(kept) and len(kept) < len(story)
        assert "output_audio_buffer.stopped" not in types(peer.events)


async def test_calls_need_the_api_key_and_an_sdp_offer(secured_server: RunningServer) -> None:
    url = f"{secured_server.http_base}/v1/realtime/calls"
    peer = Peer()
    offer = await peer.offer()
    await peer.close()
    key = {"Authorization": f"Bearer {secured_server.api_key}"}
    async with aiohttp.ClientSession() as http:
        resp = await http.post(url, data=offer, headers={
            "Authorization": "Bearer wrong", "Content-Type": "application/sdp"})
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_api_key"
        for body in ("hello", "v=0\r\n"):  # not SDP; SDP offering nothing
            resp = await http.post(url, data=body, headers={
                **key, "Content-Type": "application/sdp"})
            assert resp.status == 400, body
            assert (await resp.json())["error"]["param"] == "sdp"
        form = aiohttp.FormData()
        form.add_field("sdp", offer, content_type="application/sdp")
        form.add_field("session", json.dumps({"type": "realtime", "voice": 3}),
                       content_type="application/json")
        resp = await http.post(url, data=form, headers=key)
        assert resp.status == 400
        assert (await resp.json())["error"]["param"].startswith("session")


async def test_media_ports_stay_in_the_range_and_the_public_address_is_announced(
        backend: Any) -> None:
    settings = server_settings(backend, webrtc_udp_ports="41000-41009",
                               webrtc_public_ip="203.0.113.7")
    async with run_server(settings) as port:
        peer = Peer()
        try:
            offer = await peer.offer()
            async with aiohttp.ClientSession() as http:
                resp = await http.post(f"http://127.0.0.1:{port}/v1/realtime/calls",
                                       data=offer, headers={"Content-Type": "application/sdp"})
                assert resp.status == 201
                answer = await resp.text()
            candidates = [line.split() for line in answer.splitlines()
                          if line.startswith("a=candidate:")]
            assert candidates and all(41000 <= int(c[5]) <= 41009 for c in candidates)
            public = [c for c in candidates if c[4] == "203.0.113.7"]
            assert public and all(c[6:9] == ["typ", "srflx", "raddr"] for c in public)
            # The host candidates still connect (on loopback the public one never answers).
            await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            async with asyncio.timeout(TIMEOUT):
                await peer.opened.wait()
            assert (await peer.recv_until("session.created"))[-1]["type"] == "session.created"
        finally:
            await peer.close()
