"""Transcription-only sessions end to end (EVENTS.md §3.3, §6.1, §6.12): openai-python's GA
client opens one with ``intent=transcription``, streams espeak-ng speech through the real
Silero VAD, and gets the input-side and transcription events from the HTTP speech-to-text
backend, and never a response. Every frame is checked against openai-python's models.
"""

from __future__ import annotations

import base64
from typing import Any

from conftest import AudioServer, RealtimeClient, RunningServer, realtime_client
from events import types
from speech import chunks, silence, speech_pcm24k

Event = dict[str, Any]
UTTERANCE = "please write down the shopping list"



def transcription_client(server: RunningServer) -> Any:
    """Connect as the GA SDK does for transcription: no model, ``intent=transcription``."""
    return realtime_client(server, model=None, created=False,
                           extra_query={"intent": "transcription"})


async def stream(client: RealtimeClient, pcm: bytes) -> None:
    for piece in chunks(pcm, 20):
        await client.send({"type": "input_audio_buffer.append",
                           "audio": base64.b64encode(piece).decode()})


async def test_speech_is_transcribed_turn_by_turn_and_never_answered(
        audio_server: AudioServer) -> None:
    asr = audio_server.asr
    assert asr is not None and audio_server.backend is not None
    asr.answers.append("Please write down the shopping list.")
    async with transcription_client(audio_server) as client:
        created = await client.recv()
        assert created["type"] == "session.created"
        assert created["session"]["type"] == "transcription"
        assert created["session"]["object"] == "realtime.transcription_session"

        await client.send({"type": "session.update", "session": {
            "type": "transcription", "audio": {"input": {
                "transcription": {"model": "gpt-4o-transcribe", "language": "en",
                                  "prompt": "groceries"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}}})
        updated = (await client.recv_until("session.updated"))[-1]["session"]
        assert updated["audio"]["input"]["transcription"] == {
            "model": "gpt-4o-transcribe", "language": "en", "prompt": "groceries"}
        assert updated["id"] == created["session"]["id"]

        speech = speech_pcm24k(UTTERANCE)
        await stream(client, silence(400) + speech + silence(900))
        events = await client.recv_until(
            "conversation.item.input_audio_transcription.completed", wait=20)

        # A response is refused, and none was started by the turn either.
        await client.send({"type": "response.create", "event_id": "evt_no"})
        error = (await client.recv_until("error"))[-1]["error"]
        assert error["event_id"] == "evt_no" and error["param"] == "type"
        await client.send({"type": "input_audio_buffer.clear"})
        await client.recv_until("input_audio_buffer.cleared")

    assert types(events) == [
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed"]
    started, stopped, committed, added, done, delta, completed = events
    iid = started["item_id"]
    assert {stopped["item_id"], committed["item_id"], added["item"]["id"],
            done["item"]["id"], delta["item_id"], completed["item_id"]} == {iid}
    speech_ms = len(speech) // 48
    assert 0 <= started["audio_start_ms"] <= 400
    assert 400 + speech_ms <= stopped["audio_end_ms"] <= 400 + speech_ms + 900
    assert delta["delta"] == completed["transcript"] == "Please write down the shopping list."
    assert completed["usage"]["type"] == "tokens"

    # The backend heard the turn with the client's language and prompt.
    upload = asr.last
    assert (upload.language, upload.prompt) == ("en", "groceries")
    heard_ms = stopped["audio_end_ms"] - started["audio_start_ms"]
    assert abs(upload.seconds * 1000 - heard_ms) < 5
    # Nothing else happened: no response, no LLM request, no speech out.
    assert not [k for k in types(client.events) if k.startswith("response.")]
    assert audio_server.backend.requests == []
    assert audio_server.tts is not None and audio_server.tts.requests == []


async def test_manual_commits_and_a_session_that_keeps_its_type(
        audio_server: AudioServer) -> None:
    asr = audio_server.asr
    assert asr is not None
    asr.answers.extend(["First.", "Second."])
    async with transcription_client(audio_server) as client:
        await client.recv()  # session.created
        await client.send({"type": "session.update", "session": {"type": "realtime",
                                                                 "instructions": "hi"}})
        error = (await client.recv_until("error"))[-1]["error"]
        assert error["param"] == "session.type"

        await client.send({"type": "session.update", "session": {
            "type": "transcription", "audio": {"input": {"turn_detection": None}}}})
        updated = (await client.recv_until("session.updated"))[-1]["session"]
        assert updated["audio"]["input"]["turn_detection"] is None

        ids = []
        for words in ("first item", "second item"):
            await stream(client, speech_pcm24k(words))
            await client.send({"type": "input_audio_buffer.commit"})
            events = await client.recv_until(
                "conversation.item.input_audio_transcription.completed", wait=20)
            assert types(events) == [
                "input_audio_buffer.committed", "conversation.item.added",
                "conversation.item.done", "conversation.item.input_audio_transcription.delta",
                "conversation.item.input_audio_transcription.completed"]
            assert events[0]["previous_item_id"] == (ids[-1] if ids else None)
            ids.append(events[0]["item_id"])
        assert [e["transcript"] for e in client.events if e["type"].endswith(
            "transcription.completed")] == ["First.", "Second."]

        # The transcript is kept on the item, as in a realtime session.
        await client.send({"type": "conversation.item.retrieve", "item_id": ids[0]})
        item = (await client.recv_until("conversation.item.retrieved"))[-1]["item"]
        assert item["content"][0]["transcript"] == "First."
    assert len(asr.requests) == 2


async def test_a_realtime_session_cannot_become_a_transcription_one(
        audio_server: AudioServer, connect: Any) -> None:
    async with connect(audio_server) as client:
        await client.send({"type": "session.update", "session": {
            "type": "transcription", "audio": {"input": {
                "transcription": {"model": "gpt-4o-transcribe"}}}}})
        error = (await client.recv_until("error"))[-1]["error"]
    assert error["param"] == "session.type"
    assert error["message"] == ("Passing a transcription session update event to a realtime "
                                "session is not allowed.")
