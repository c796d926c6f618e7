"""Real speech end to end through the official openai SDK: espeak-ng audio streamed in 20 ms
appends with ``server_vad``, real HTTP speech-to-text and text-to-speech backends behind the
server, and the reply's audio coming back (EVENTS.md §6.2-§6.7, §6.11).

The VAD is the real Silero model. Audio goes in faster than real time: turn detection counts
appended audio, not the wall clock, so the events are the same either way.
"""

from __future__ import annotations

import base64
from typing import Any

from audio_backends import TTSBackend
from conftest import AudioServer, RealtimeClient
from events import only, types
from speech import chunks, silence, speech_pcm24k

from openrealtime.audio.g711 import ulaw_encode

Event = dict[str, Any]
UTTERANCE = "hello, could you tell me about the weather today"




async def stream(client: RealtimeClient, pcm: bytes, rate: int = 24000) -> None:
    for piece in chunks(pcm, 20, rate):
        await client.send({"type": "input_audio_buffer.append",
                           "audio": base64.b64encode(piece).decode()})


async def talk(client: RealtimeClient, text: str = UTTERANCE, before: int = 400,
               after: int = 900) -> int:
    """Stream one spoken turn with silence around it; return the speech's length in ms."""
    speech = speech_pcm24k(text)
    await stream(client, silence(before) + speech + silence(after))
    return len(speech) // 48


async def configure(client: RealtimeClient, **audio_input: Any) -> None:
    await client.send({"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": audio_input}}})
    await client.recv_until("session.updated")


def audio_of(events: list[Event]) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events
                    if e["type"] == "response.output_audio.delta")


async def test_a_spoken_turn_gets_a_transcript_and_a_spoken_reply(
        audio_server: AudioServer, connect: Any) -> None:
    reply = "Sure, the weather is sunny and warm. Enjoy your day!"
    assert audio_server.asr is not None and audio_server.tts is not None
    audio_server.asr.answers.append(f"say: {reply}")
    async with connect(audio_server) as client:
        await configure(client, transcription={"model": "gpt-4o-transcribe"})
        speech_ms = await talk(client)
        events = await client.recv_until("response.done", wait=20)
        while "conversation.item.input_audio_transcription.completed" not in types(
                client.events):
            await client.recv()

    started = only(events, "input_audio_buffer.speech_started")
    stopped = only(events, "input_audio_buffer.speech_stopped")
    # Speech begins 400 ms in; the turn starts 300 ms (the prefix padding) before the onset.
    assert 0 <= started["audio_start_ms"] <= 400
    assert 400 + speech_ms <= stopped["audio_end_ms"] <= 400 + speech_ms + 900
    assert started["item_id"] == stopped["item_id"]
    order = [k for k in types(events) if not k.startswith("conversation.item.input_audio")]
    assert order[:6] == [
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done",
        "response.created"]
    assert order[6:9] == ["response.output_item.added", "conversation.item.added",
                          "response.content_part.added"]
    assert order[-6:] == [
        "response.output_audio.done", "response.output_audio_transcript.done",
        "response.content_part.done", "response.output_item.done", "conversation.item.done",
        "response.done"]
    assert set(order[9:-6]) == {"response.output_audio_transcript.delta",
                                "response.output_audio.delta"}

    # The transcript of the user's turn, streamed by the speech-to-text backend.
    everything = client.events
    deltas = [e["delta"] for e in everything
              if e["type"] == "conversation.item.input_audio_transcription.delta"]
    completed = only(everything, "conversation.item.input_audio_transcription.completed")
    assert "".join(deltas) == completed["transcript"] == f"say: {reply}"
    assert completed["item_id"] == started["item_id"]
    assert completed["usage"]["type"] == "tokens"
    upload = audio_server.asr.last
    assert upload.rate == 16000
    assert abs(upload.seconds * 1000 - (stopped["audio_end_ms"] - started["audio_start_ms"])) < 5

    # The LLM read the transcript; its reply was spoken clause by clause, and the audio and
    # its transcript add up.
    user = audio_server.backend.last["messages"][-1]
    assert user["role"] == "user" and f"say: {reply}" in str(user["content"])
    transcript = only(events, "response.output_audio_transcript.done")["transcript"]
    assert transcript == reply
    spoken = [r["input"] for r in audio_server.tts.requests]
    assert len(spoken) >= 2 and "".join(spoken) == reply
    assert "".join(e["delta"] for e in events
                   if e["type"] == "response.output_audio_transcript.delta") == reply
    audio = audio_of(events)
    assert len(audio) == sum(len(TTSBackend.audio_for(t)) for t in spoken)
    assert audio_server.tts.last["response_format"] in ("pcm", "wav")
    done = only(events, "response.done")["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": reply}]


async def test_barge_in_cancels_the_reply_and_truncation_cuts_what_was_not_heard(
        audio_server: AudioServer, connect: Any) -> None:
    story = ("Once upon a time, there was a little robot who loved to sing songs "
             "about the stars and the sea.")
    assert audio_server.asr is not None and audio_server.tts is not None
    tts = audio_server.tts
    audio_server.asr.answers.extend([f"say: {story}", "say: Okay."])
    # The reply's first segment sends one chunk (100 ms) and then stalls, as a slow engine
    # would: the reply is still being spoken when the user talks over it.
    tts.modes.append("stall")
    async with connect(audio_server) as client:
        await talk(client, "tell me a story", after=700)
        first = await client.recv_until("response.output_audio.delta", wait=20)
        rid = only(first, "response.created")["response"]["id"]
        await tts.hanging.wait()

        await talk(client, "stop, please stop", before=100, after=700)
        events = await client.recv_until("response.done", wait=20)
        kinds_seen = types(events)
        assert kinds_seen.index("input_audio_buffer.speech_started") < kinds_seen.index(
            "response.done")
        done = only(events, "response.done")["response"]
        assert done["id"] == rid and done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
        item = only(events, "response.output_item.done")["item"]
        assert item["status"] == "incomplete"
        await tts.disconnected.wait()  # the speech engine's stream was closed

        # The client played 60 ms of the reply: the model must not remember the rest.
        heard_ms = 60
        received = audio_of(first + events)
        assert len(received) // 48 >= heard_ms
        await client.send({"type": "conversation.item.truncate", "item_id": item["id"],
                           "content_index": 0, "audio_end_ms": heard_ms})
        truncated = (await client.recv_until("conversation.item.truncated"))[-1]
        assert truncated["audio_end_ms"] == heard_ms
        await client.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
        got = (await client.recv_until("conversation.item.retrieved"))[-1]["item"]
        kept = got["content"][0]["transcript"]
        assert story.startswith(kept) and len(kept) < len("Once upon a time,")
        assert len(base64.b64decode(got["content"][0]["audio"])) == heard_ms * 48

        # Too far: more than the audio there is.
        await client.send({"type": "conversation.item.truncate", "item_id": item["id"],
                           "content_index": 0, "audio_end_ms": 5000})
        error = (await client.recv_until("error"))[-1]
        assert error["error"]["param"] == "audio_end_ms"

        # The second turn's reply comes, and its LLM request held only what was heard.
        while types(client.events).count("response.done") < 2:
            await client.recv(wait=20)
    second = audio_server.backend.last["messages"]
    assistant = [m for m in second if m["role"] == "assistant"]
    # An assistant turn of which nothing was heard leaves nothing for the model to read.
    assert [m.get("content") for m in assistant] == ([kept] if kept else [])
    assert "robot" not in str(assistant)


async def test_g711_in_and_out(audio_server: AudioServer, connect: Any) -> None:
    assert audio_server.asr is not None
    audio_server.asr.answers.append("say: Hello there, how nice.")
    async with connect(audio_server) as client:
        await client.send({"type": "session.update", "session": {"type": "realtime", "audio": {
            "input": {"format": {"type": "audio/pcmu"}},
            "output": {"format": {"type": "audio/pcmu"}}}}})
        await client.recv_until("session.updated")
        pcm8k = _pcm24k_to_8k(silence(300) + speech_pcm24k(UTTERANCE) + silence(900))
        for piece in chunks(ulaw_encode(pcm8k), 20, 8000 // 2):
            await client.send({"type": "input_audio_buffer.append",
                               "audio": base64.b64encode(piece).decode()})
        events = await client.recv_until("response.done", wait=20)
    stopped = only(events, "input_audio_buffer.speech_stopped")
    assert stopped["audio_end_ms"] > 1000  # counted at 8 bytes/ms, not 48
    assert only(events, "response.done")["response"]["audio"]["output"]["format"] == {
        "type": "audio/pcmu"}
    audio = audio_of(events)
    expected_ms = sum(len(TTSBackend.audio_for(r["input"])) for r in
                      audio_server.tts.requests) / 48  # type: ignore[union-attr]
    assert abs(len(audio) / 8 - expected_ms) < 5  # µ-law at 8 kHz: 8 bytes per ms


async def test_manual_commit_without_transcription_config_still_answers_what_was_said(
        audio_server: AudioServer, connect: Any) -> None:
    assert audio_server.asr is not None
    audio_server.asr.answers.append("say: Noted.")
    async with connect(audio_server) as client:
        await configure(client, turn_detection=None)
        await stream(client, speech_pcm24k("remember the milk"))
        await client.send({"type": "input_audio_buffer.commit"})
        committed = await client.recv_until("conversation.item.done")
        assert types(committed) == ["input_audio_buffer.committed", "conversation.item.added",
                                    "conversation.item.done"]
        await client.send({"type": "response.create"})
        events = await client.recv_until("response.done", wait=20)
    assert only(events, "response.output_audio_transcript.done")["transcript"] == "Noted."
    # No transcription events were asked for, so none came.
    assert not [e for e in client.events if "input_audio_transcription" in e["type"]]


async def test_a_failing_transcription_is_reported_as_failed_and_the_session_goes_on(
        audio_server: AudioServer, connect: Any) -> None:
    assert audio_server.asr is not None
    audio_server.asr.modes.extend(["500", "500"])
    async with connect(audio_server) as client:
        await configure(client, turn_detection=None, transcription={"model": "whisper-1"})
        await stream(client, speech_pcm24k("hello"))
        await client.send({"type": "input_audio_buffer.commit"})
        events = await client.recv_until("conversation.item.input_audio_transcription.failed")
        assert not [e for e in events if e["type"] == "error"]
        await client.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "say: Still here."}]}})
        await client.send({"type": "response.create"})
        events = await client.recv_until("response.done", wait=20)
    assert only(events, "response.done")["response"]["status"] == "completed"


def _pcm24k_to_8k(pcm: bytes) -> bytes:
    from speech import resample

    return resample(pcm, 24000, 8000)
