"""Server playback (WebRTC): audio goes to the speaker instead of out as deltas; the core
follows the speaker on the clock, reports ``output_audio_buffer.started/stopped/cleared``, and
on an interruption truncates the reply to what was heard (EVENTS.md §1.6, §4.2, §6.5)."""

from __future__ import annotations

import base64
from typing import Any

from core_harness import Harness, error_of, of_type
from events import only, types

from openrealtime.session.config import Capabilities
from openrealtime.session.effects import (
    DetectSpeech,
    PlayAudio,
    SpeechAudio,
    SpeechDone,
    SpeechProbabilities,
    StopPlayback,
    Synthesize,
)

MS = 48  # bytes per ms of PCM16 at 24 kHz
WEBRTC = Capabilities(audio_output=True, server_playback=True)


def on_call(**kwargs: Any) -> Harness:
    h = Harness(caps=WEBRTC, now=100.0, **kwargs)
    h.add_user("hi")
    return h


def at(h: Harness, now: float) -> list[dict[str, Any]]:
    """Let the clock reach ``now`` (the driver ticks at ``next_deadline``)."""
    h.now = now
    h.session.tick(now)
    return h.drain()


def speak(h: Harness, rid: str, segment: int, ms: int) -> list[dict[str, Any]]:
    events = h.result(SpeechAudio(rid, segment, b"\x01\x00" * 24 * ms))
    return events + h.result(SpeechDone(rid, segment))


def reply(h: Harness, *segments: tuple[str, int]) -> tuple[str, str]:
    """A complete spoken reply made at ``h.now``: returns the response and item ids."""
    h.effects()
    rid, _ = h.start()
    h.text(rid, "".join(text for text, _ in segments))
    h.done(rid)
    assert [e.text for e in h.effects() if isinstance(e, Synthesize)] == [
        text for text, _ in segments]
    events: list[dict[str, Any]] = []
    for i, (_, ms) in enumerate(segments):
        events += speak(h, rid, i, ms)
    assert types(events)[-1] == "response.done"
    iid: str = only(events, "response.output_item.done")["item"]["id"]
    return rid, iid


def vad_speech(h: Harness, frames: int = 10) -> list[dict[str, Any]]:
    h.send({"type": "input_audio_buffer.append",
            "audio": base64.b64encode(b"\x00\x00" * 24 * 32 * frames).decode()})
    (detect,) = [e for e in h.effects(vad=True) if isinstance(e, DetectSpeech)]
    return h.result(SpeechProbabilities(detect.epoch, (0.01,) * 2 + (0.9,) * (frames - 2)))


def test_audio_goes_to_the_speaker_not_out_as_deltas_and_started_follows_the_part() -> None:
    h = on_call()
    rid, _ = h.start()
    h.text(rid, "Hello there, friend")
    assert all(isinstance(e, Synthesize) for e in h.effects())
    events = h.result(SpeechAudio(rid, 0, b"\x01\x00" * 24 * 300))
    assert types(events) == ["response.output_audio_transcript.delta",
                             "output_audio_buffer.started"]
    assert events[1]["response_id"] == rid
    (play,) = h.effects()
    assert isinstance(play, PlayAudio) and play.response_id == rid
    assert len(play.audio) == 300 * MS and play.spec.rate == 24000
    assert play.item_id == events[0]["item_id"]
    # More audio of the same response is played on without another ``started``.
    assert h.result(SpeechAudio(rid, 0, b"\x01\x00" * 24 * 100)) == []


def test_stopped_comes_when_the_speaker_drains_after_response_done() -> None:
    h = on_call()
    rid, _ = reply(h, ("Hello there,", 1000), (" friend.", 500))
    assert of_type(h.history, "output_audio_buffer.stopped") == []
    assert of_type(h.history, "response.output_audio.delta") == []
    assert h.session.next_deadline == 101.5  # the audio was queued at 100.0
    assert at(h, 101.4) == []
    events = at(h, 101.5)
    assert types(events) == ["output_audio_buffer.stopped"] and events[0]["response_id"] == rid
    assert h.session.next_deadline is None


def test_speech_slower_than_real_time_stops_only_after_response_done() -> None:
    h = on_call()
    rid, _ = h.start()
    h.text(rid, "Hello there, friend")
    h.result(SpeechAudio(rid, 0, b"\x01\x00" * 24 * 200))
    assert at(h, 101.0) == []  # the speaker ran dry, but more is coming
    h.result(SpeechDone(rid, 0))
    h.done(rid)
    events = speak(h, rid, 1, 200)  # resumes at 101.0
    assert "response.done" in types(events)
    assert "output_audio_buffer.stopped" not in types(events)
    assert types(at(h, 101.2)) == ["output_audio_buffer.stopped"]


def test_a_second_reply_queued_behind_the_first_starts_when_the_first_ends() -> None:
    h = on_call()
    first, _ = reply(h, ("One two three.", 2000))
    h.add_user("more")
    second, _ = reply(h, ("Four.", 500))
    assert [e["response_id"] for e in of_type(h.history, "output_audio_buffer.started")] == [
        first]
    events = at(h, 102.0)
    assert [(e["type"], e["response_id"]) for e in events] == [
        ("output_audio_buffer.started", second), ("output_audio_buffer.stopped", first)]
    assert [(e["type"], e["response_id"]) for e in at(h, 102.5)] == [
        ("output_audio_buffer.stopped", second)]


def test_barge_in_clears_the_speaker_and_truncates_the_reply_to_what_was_heard() -> None:
    h = on_call()
    rid, iid = reply(h, ("The weather today,", 1000), (" is sunny with light winds.", 1000))
    h.now = 101.5  # the user talks over the second half
    h.effects()
    events = vad_speech(h)
    assert types(events) == ["input_audio_buffer.speech_started", "output_audio_buffer.cleared",
                             "conversation.item.truncated"]
    assert events[1]["response_id"] == rid
    truncated = events[2]
    assert (truncated["item_id"], truncated["content_index"], truncated["audio_end_ms"]) == (
        iid, 0, 1500)
    assert h.effects() == [StopPlayback()]
    item = only(h.send({"type": "conversation.item.retrieve", "item_id": iid}),
                "conversation.item.retrieved")["item"]
    assert item["content"][0]["transcript"] == "The weather today, is sunny"
    assert len(base64.b64decode(item["content"][0]["audio"])) == 1500 * MS
    # The cut audio never finishes playing: no ``stopped`` for it.
    assert at(h, 110.0) == [] and h.session.next_deadline is None


def test_barge_in_while_generating_cancels_then_clears_then_truncates() -> None:
    h = on_call()
    rid, _ = h.start()
    h.text(rid, "Hello there, my good friend")
    h.result(SpeechAudio(rid, 0, b"\x01\x00" * 24 * 800))
    h.now = 100.3
    events = vad_speech(h)
    assert types(events)[0] == "input_audio_buffer.speech_started"
    assert types(events)[-3:] == ["response.done", "output_audio_buffer.cleared",
                                  "conversation.item.truncated"]
    assert only(events, "response.done")["response"]["status_details"]["reason"] == (
        "turn_detected")
    assert only(events, "conversation.item.truncated")["audio_end_ms"] == 300


def test_barge_in_with_nothing_playing_says_nothing_about_the_speaker() -> None:
    h = on_call()
    reply(h, ("Hi.", 500))
    at(h, 100.5)
    h.effects()
    h.now = 102.0
    events = vad_speech(h)
    assert types(events) == ["input_audio_buffer.speech_started"]
    assert h.effects() == []


def test_interrupt_response_false_leaves_the_speaker_alone() -> None:
    h = on_call()
    h.update({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "interrupt_response": False}}}})
    reply(h, ("Hello there,", 1000))
    h.now = 100.5
    assert types(vad_speech(h)) == ["input_audio_buffer.speech_started"]


def test_client_clear_cancels_the_response_and_truncates() -> None:
    h = on_call()
    rid, _ = h.start()
    h.text(rid, "Hello there, my good friend")
    h.result(SpeechAudio(rid, 0, b"\x01\x00" * 24 * 800))
    h.now = 100.25
    events = h.send({"type": "output_audio_buffer.clear"})
    assert types(events)[-3:] == ["response.done", "output_audio_buffer.cleared",
                                  "conversation.item.truncated"]
    assert only(events, "response.done")["response"]["status_details"]["reason"] == (
        "client_cancelled")
    assert only(events, "conversation.item.truncated")["audio_end_ms"] == 250


def test_output_audio_buffer_clear_is_refused_without_server_playback() -> None:
    h = Harness(caps=Capabilities(audio_output=True))
    err = error_of(h.send({"type": "output_audio_buffer.clear", "event_id": "c1"}))
    assert "WebRTC" in err["message"] and err["event_id"] == "c1"


def test_text_replies_touch_no_speaker() -> None:
    h = on_call()
    rid, _ = h.start({"output_modalities": ["text"]})
    h.text(rid, "plain text")
    h.done(rid)
    assert h.effects() == [] and h.session.next_deadline is None
    assert not [t for t in types(h.history) if t.startswith("output_audio_buffer")]
