"""Transcription-only sessions in the core (EVENTS.md §3.3, §6.12): the transcription session
object, its updates, the input side with its transcription events, and no responses ever."""

from __future__ import annotations

import base64
from typing import Any

import pydantic
import pytest
from core_harness import Harness, error_of, of_type
from events import only, types
from openai.types.realtime import RealtimeTranscriptionSessionCreateRequest

from openrealtime.session.core import Session
from openrealtime.session.effects import (
    DetectSpeech,
    Effect,
    SpeechProbabilities,
    Transcribe,
    TranscriptionDelta,
    TranscriptionDone,
    TranscriptionFailed,
)
from openrealtime.session.limits import Limits

Event = dict[str, Any]
FRAME = 32  # ms per VAD frame
PCM_MS = 48  # bytes per ms of PCM16 at 24 kHz
INPUT_EVENTS = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed", "conversation.item.added",
                "conversation.item.done"]


class TranscriptionHarness(Harness):
    """The harness around a session opened with ``?intent=transcription``."""

    def __init__(self, *, limits: Limits | None = None, now: float = 0.0) -> None:
        self.session = Session(model="gpt-realtime", now=now, limits=limits,
                               session_type="transcription")
        self.now = now
        self._effects: list[Effect] = []
        self.history: list[Event] = []
        self.created = self.drain()


def pcm(ms: int) -> bytes:
    return b"\x01\x00" * (ms * 24)


def append(h: Harness, audio: bytes) -> list[Event]:
    return h.send({"type": "input_audio_buffer.append",
                   "audio": base64.b64encode(audio).decode()})


def turn(h: Harness, silent_before: int = 10, speech: int = 20, silent_after: int = 20
         ) -> list[Event]:
    """Append one turn's audio (in VAD frames) and feed matching VAD results."""
    append(h, pcm((silent_before + speech + silent_after) * FRAME))
    epochs = {e.epoch for e in h.effects(vad=True) if isinstance(e, DetectSpeech)}
    probs = [0.01] * silent_before + [0.9] * speech + [0.01] * silent_after
    return h.result(SpeechProbabilities(max(epochs), tuple(probs), FRAME))


def session_of(events: list[Event]) -> Event:
    assert types(events) == ["session.updated"], events
    session: Event = events[0]["session"]
    return session


def transcribe_effect(h: Harness) -> Transcribe:
    effects = h.effects()
    assert len(effects) == 1 and isinstance(effects[0], Transcribe), effects
    return effects[0]


# --- the session object ---------------------------------------------------------------------


def test_session_created_is_the_transcription_session_object() -> None:
    h = TranscriptionHarness(now=1000.0)
    (created,) = h.created
    assert created["type"] == "session.created"
    s = created["session"]
    assert s["id"].startswith("sess_")
    assert s == {
        "type": "transcription", "object": "realtime.transcription_session", "id": s["id"],
        "expires_at": 1000 + Limits().max_session_s,
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "whisper-1", "language": None, "prompt": ""},
            "noise_reduction": None,
            "turn_detection": {"type": "server_vad", "threshold": 0.5,
                               "prefix_padding_ms": 300, "silence_duration_ms": 500}}},
        "include": None}
    # openai-python reads it as its transcription session, not as a realtime one.
    model = pydantic.TypeAdapter(RealtimeTranscriptionSessionCreateRequest).validate_python(s)
    assert model.audio is not None and model.audio.input is not None


def test_update_sets_the_transcription_model_language_prompt_and_semantic_vad() -> None:
    h = TranscriptionHarness()
    s = session_of(h.update({"type": "transcription", "include": [
        "item.input_audio_transcription.logprobs"], "audio": {"input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-transcribe", "language": "de",
                              "prompt": "Namen: Ada"},
            "noise_reduction": {"type": "near_field"},
            "turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}}))
    assert s["audio"]["input"] == {
        "format": {"type": "audio/pcmu"},
        "transcription": {"model": "gpt-4o-transcribe", "language": "de",
                          "prompt": "Namen: Ada"},
        "noise_reduction": {"type": "near_field"},
        "turn_detection": {"type": "semantic_vad", "eagerness": "high"}}
    assert s["include"] == ["item.input_audio_transcription.logprobs"]
    assert s["type"] == "transcription" and s["id"] == h.created[0]["session"]["id"]
    assert set(s) == {"type", "object", "id", "expires_at", "audio", "include"}


def test_a_partial_update_changes_only_what_it_names() -> None:
    h = TranscriptionHarness()
    before = h.config()
    h.update({"type": "transcription", "audio": {"input": {
        "transcription": {"model": "gpt-4o-mini-transcribe"}}}})
    s = session_of(h.update({"type": "transcription", "include": None}))
    assert s["audio"]["input"]["transcription"] == {
        "model": "gpt-4o-mini-transcribe", "language": None, "prompt": ""}
    assert s["audio"]["input"]["turn_detection"] == before["audio"]["input"]["turn_detection"]
    assert s["audio"]["input"]["format"] == before["audio"]["input"]["format"]
    assert h.config() == s


def test_response_settings_of_turn_detection_are_accepted_but_do_not_apply() -> None:
    h = TranscriptionHarness()
    s = session_of(h.update({"type": "transcription", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "silence_duration_ms": 300, "create_response": True,
        "interrupt_response": True, "idle_timeout_ms": 5000}}}}))
    assert s["audio"]["input"]["turn_detection"] == {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
        "silence_duration_ms": 300}
    # The idle timeout would commit and answer: a transcription session never arms it.
    turn(h)
    assert h.session.next_deadline is None


def test_a_transcription_session_cannot_become_a_realtime_one() -> None:
    h = TranscriptionHarness()
    before = h.config()
    err = error_of(h.update({"type": "realtime", "instructions": "be brief"},
                            event_id="evt_1"))
    assert err["param"] == "session.type" and err["event_id"] == "evt_1"
    assert err["message"] == ("Passing a realtime session update event to a transcription "
                              "session is not allowed.")
    assert h.config() == before


def test_a_realtime_session_cannot_become_a_transcription_one() -> None:
    h = Harness()
    before = h.config()
    err = error_of(h.update({"type": "transcription"}))
    assert err["param"] == "session.type"
    assert err["message"] == ("Passing a transcription session update event to a realtime "
                              "session is not allowed.")
    assert h.config() == before


@pytest.mark.parametrize("session", [
    {"type": "transcription", "model": "gpt-realtime"},
    {"type": "transcription", "instructions": "hi"},
])
def test_realtime_only_fields_are_unknown_parameters(session: Event) -> None:
    h = TranscriptionHarness()
    err = error_of(h.update(session))
    assert err["code"] == "unknown_parameter"


# --- no responses -----------------------------------------------------------------------------


def test_response_create_is_refused_and_makes_nothing() -> None:
    h = TranscriptionHarness()
    err = error_of(h.create_response({"instructions": "hi"}, event_id="evt_r"))
    assert err["event_id"] == "evt_r" and err["param"] == "type"
    assert "transcription sessions" in err["message"]
    assert h.effects() == []
    assert h.session.active_response_ids == []


def test_response_cancel_finds_nothing_to_cancel() -> None:
    h = TranscriptionHarness()
    assert error_of(h.cancel())["code"] == "response_cancel_not_active"


# --- the input side ---------------------------------------------------------------------------


def test_a_vad_turn_is_committed_and_transcribed_and_never_answered() -> None:
    h = TranscriptionHarness()
    h.update({"type": "transcription", "audio": {"input": {"transcription": {
        "model": "gpt-4o-transcribe", "language": "en", "prompt": "weather"}}}})
    events = turn(h, silent_before=20, speech=10, silent_after=20)
    assert types(events) == INPUT_EVENTS
    started, stopped, committed, added, done = events
    iid = started["item_id"]
    assert started["audio_start_ms"] == 20 * FRAME - 300
    assert stopped["audio_end_ms"] == (30 + 16) * FRAME
    assert stopped["item_id"] == committed["item_id"] == added["item"]["id"] == iid
    assert committed["previous_item_id"] is None
    assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    effect = transcribe_effect(h)  # and no Generate
    assert (effect.item_id, effect.model, effect.language, effect.prompt) == (
        iid, "gpt-4o-transcribe", "en", "weather")
    assert len(effect.audio) == (stopped["audio_end_ms"] - started["audio_start_ms"]) * PCM_MS

    events = h.result(TranscriptionDelta(iid, "what is "))
    events += h.result(TranscriptionDelta(iid, "the weather"))
    events += h.result(TranscriptionDone(iid, "what is the weather", 1.0, 10, 4))
    assert types(events) == [
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed"]
    assert "".join(e["delta"] for e in events[:2]) == events[2]["transcript"]
    assert events[2]["usage"] == {"type": "tokens", "input_tokens": 10, "output_tokens": 4,
                                  "total_tokens": 14}
    assert h.effects() == []

    # The next turn follows the first, and is not answered either.
    events = turn(h)
    assert types(events) == INPUT_EVENTS
    assert events[2]["previous_item_id"] == iid
    assert isinstance(transcribe_effect(h), Transcribe)
    assert not of_type(h.history, "response.created")


def test_manual_commit_with_turn_detection_off() -> None:
    h = TranscriptionHarness()
    s = session_of(h.update({"type": "transcription", "audio": {"input": {
        "turn_detection": None}}}))
    assert s["audio"]["input"]["turn_detection"] is None
    append(h, pcm(250))
    assert h.effects(vad=True) == []  # no VAD without turn detection
    events = h.send({"type": "input_audio_buffer.commit"})
    assert types(events) == ["input_audio_buffer.committed", "conversation.item.added",
                             "conversation.item.done"]
    effect = transcribe_effect(h)
    assert effect.item_id == events[0]["item_id"] and effect.model == "whisper-1"
    assert len(effect.audio) == 250 * PCM_MS
    assert error_of(h.send({"type": "input_audio_buffer.commit"}))["code"] == (
        "input_audio_buffer_commit_empty")


def test_the_transcript_is_kept_on_the_item() -> None:
    h = TranscriptionHarness()
    iid = only(turn(h), "input_audio_buffer.committed")["item_id"]
    h.result(TranscriptionDone(iid, "hello", 0.5))
    got = only(h.send({"type": "conversation.item.retrieve", "item_id": iid}),
               "conversation.item.retrieved")
    assert got["item"]["content"][0]["transcript"] == "hello"


def test_a_failed_transcription_is_reported() -> None:
    h = TranscriptionHarness()
    iid = only(turn(h), "input_audio_buffer.committed")["item_id"]
    events = h.result(TranscriptionFailed(iid, "stt_http_500", "backend broke"))
    failed = only(events, "conversation.item.input_audio_transcription.failed")
    assert failed["item_id"] == iid and failed["error"]["message"] == "backend broke"


def test_with_transcription_off_nothing_is_transcribed() -> None:
    h = TranscriptionHarness()
    s = session_of(h.update({"type": "transcription", "audio": {"input": {
        "transcription": None}}}))
    assert s["audio"]["input"]["transcription"] is None
    assert types(turn(h)) == INPUT_EVENTS
    assert h.effects() == []  # no LLM here to read it, and the client did not ask
