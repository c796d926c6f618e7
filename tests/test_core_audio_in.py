"""The core's input side: server VAD turns, audio timeline, transcription, idle timeout
(EVENTS.md §3.5, §6.3, §6.4, §6.11). VAD probabilities are fed in as results, frame by frame."""

from __future__ import annotations

import base64
from typing import Any

from core_harness import Harness, error_of, of_type
from events import only, types

from openrealtime.session.effects import (
    DetectSpeech,
    Generate,
    SpeechProbabilities,
    Transcribe,
    TranscriptionDelta,
    TranscriptionDone,
    TranscriptionFailed,
)

FRAME = 32  # ms per VAD frame
PCM_MS = 48  # bytes per ms of PCM16 at 24 kHz


def pcm(ms: int, value: int = 1) -> bytes:
    return value.to_bytes(2, "little", signed=True) * (ms * 24)


def append(h: Harness, audio: bytes) -> list[dict[str, Any]]:
    return h.send({"type": "input_audio_buffer.append",
                   "audio": base64.b64encode(audio).decode()})


def vad(h: Harness, *probs: float, epoch: int | None = None) -> list[dict[str, Any]]:
    if epoch is None:
        effects = h.effects(vad=True)
        epochs = {e.epoch for e in effects if isinstance(e, DetectSpeech)}
        epoch = max(epochs) if epochs else h.session.input._epoch
    return h.result(SpeechProbabilities(epoch, probs, FRAME))


def turn(h: Harness, silent_before: int = 10, speech: int = 20, silent_after: int = 20
         ) -> list[dict[str, Any]]:
    """Append the audio of one turn (in frames) and feed matching VAD results."""
    frames = silent_before + speech + silent_after
    append(h, pcm(frames * FRAME))
    return vad(h, *([0.01] * silent_before + [0.9] * speech + [0.01] * silent_after))


def test_speech_started_and_stopped_carry_audio_time_and_the_future_item_id() -> None:
    h = Harness()
    events = turn(h, silent_before=20, speech=10, silent_after=20)
    started = only(events, "input_audio_buffer.speech_started")
    stopped = only(events, "input_audio_buffer.speech_stopped")
    # Onset at frame 20 (640 ms) less the 300 ms prefix padding.
    assert started["audio_start_ms"] == 20 * FRAME - 300
    # 500 ms of silence is 16 frames after the speech ends at frame 30.
    assert stopped["audio_end_ms"] == (30 + 16) * FRAME
    assert started["item_id"] == stopped["item_id"]
    committed = only(events, "input_audio_buffer.committed")
    assert committed["item_id"] == started["item_id"]
    assert types(events)[:6] == [
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done",
        "response.created"]


def test_the_committed_item_holds_exactly_the_turns_audio() -> None:
    h = Harness()
    audio = b"".join(pcm(FRAME, value=i) for i in range(50))
    append(h, audio)
    events = vad(h, *([0.0] * 20 + [0.9] * 10 + [0.0] * 20))
    iid = only(events, "input_audio_buffer.committed")["item_id"]
    item = h.session.conversation.get(iid)
    stored = base64.b64decode(item.content[0].audio)  # type: ignore[union-attr]
    start, end = (20 * FRAME - 300) * PCM_MS, (30 + 16) * FRAME * PCM_MS
    assert stored == audio[start:end]
    # What followed the end of the turn stays in the buffer for the next one.
    assert h.session.input.buffer.duration_ms == 50 * FRAME - (30 + 16) * FRAME


def test_the_prefix_padding_is_clamped_at_the_start_of_the_session() -> None:
    h = Harness()
    events = turn(h, silent_before=2, speech=10)
    assert only(events, "input_audio_buffer.speech_started")["audio_start_ms"] == 0


def test_audio_time_is_counted_in_appended_audio_across_turns() -> None:
    h = Harness()
    turn(h)
    h.done(only(h.history, "response.created")["response"]["id"])
    events = turn(h, silent_before=10, speech=10)
    # The second turn's onset is 50 frames (the first turn) plus 10 frames in.
    assert only(events, "input_audio_buffer.speech_started")["audio_start_ms"] == (
        60 * FRAME - 300)


def test_g711_audio_time_is_8_bytes_per_ms() -> None:
    h = Harness()
    h.update({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}})
    append(h, b"\xff" * (50 * FRAME * 8))
    events = vad(h, *([0.0] * 20 + [0.9] * 10 + [0.0] * 20))
    assert only(events, "input_audio_buffer.speech_started")["audio_start_ms"] == 20 * FRAME - 300
    iid = only(events, "input_audio_buffer.committed")["item_id"]
    item = h.session.conversation.get(iid)
    assert len(base64.b64decode(item.content[0].audio)) == (  # type: ignore[union-attr]
        (16 + 10) * FRAME + 300) * 8


def test_create_response_false_commits_but_does_not_answer() -> None:
    h = Harness()
    h.update({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "create_response": False}}}})
    events = turn(h)
    assert "input_audio_buffer.committed" in types(events)
    assert of_type(events, "response.created") == []
    assert not any(isinstance(e, Generate) for e in h.effects())


def test_barge_in_cancels_the_active_response_with_turn_detected() -> None:
    h = Harness()
    h.add_user("hi")
    rid, _ = h.start()
    h.text(rid, "Once upon a time")
    append(h, pcm(10 * FRAME))
    events = vad(h, *([0.01] * 5 + [0.9] * 5))
    assert types(events)[0] == "input_audio_buffer.speech_started"
    done = only(events, "response.done")["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert h.cancelled() == [rid]


def test_interrupt_response_false_lets_the_response_run_and_makes_no_second_one() -> None:
    h = Harness()
    h.update({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "interrupt_response": False}}}})
    h.add_user("hi")
    rid, _ = h.start()
    events = turn(h)
    assert of_type(events, "response.done") == []
    assert of_type(events, "response.created") == []
    assert "input_audio_buffer.committed" in types(events)
    assert [type(e) for e in h.effects()] == [Transcribe]
    assert types(h.text(rid, "still here")) == [
        "response.output_item.added", "conversation.item.added",
        "response.content_part.added", "response.output_text.delta"]


def test_out_of_band_responses_are_not_interrupted() -> None:
    h = Harness()
    h.start({"conversation": "none"})
    events = turn(h, speech=5, silent_after=0)
    assert of_type(events, "response.done") == []


def test_results_of_an_old_vad_stream_are_ignored_after_a_format_change() -> None:
    h = Harness()
    append(h, pcm(20 * FRAME))
    (old,) = h.effects(vad=True)
    assert isinstance(old, DetectSpeech)
    h.update({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcma"}}}})
    assert vad(h, *([0.9] * 20), epoch=old.epoch) == []
    append(h, b"\xd5" * 800)
    (new,) = h.effects(vad=True)
    assert isinstance(new, DetectSpeech) and new.epoch != old.epoch
    assert new.spec.encoding == "pcma"


def test_turning_detection_off_stops_vad_and_manual_commit_still_works() -> None:
    h = Harness()
    h.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    append(h, pcm(200))
    assert h.effects(vad=True) == []
    assert types(h.send({"type": "input_audio_buffer.commit"}))[0] == (
        "input_audio_buffer.committed")


def test_manual_commit_mid_speech_takes_the_audio_and_resets_the_turn() -> None:
    h = Harness()
    append(h, pcm(20 * FRAME))
    vad(h, *([0.0] * 5 + [0.9] * 15))
    events = h.send({"type": "input_audio_buffer.commit"})
    assert types(events)[0] == "input_audio_buffer.committed"
    # The turn is over: silence now stops nothing.
    append(h, pcm(20 * FRAME))
    assert of_type(vad(h, *([0.0] * 20)), "input_audio_buffer.speech_stopped") == []


def test_clear_mid_speech_ends_the_turn() -> None:
    h = Harness()
    append(h, pcm(20 * FRAME))
    vad(h, *([0.0] * 5 + [0.9] * 15))
    assert types(h.send({"type": "input_audio_buffer.clear"})) == ["input_audio_buffer.cleared"]
    append(h, pcm(20 * FRAME))
    assert vad(h, *([0.0] * 20)) == []


def test_semantic_vad_waits_longer_by_eagerness() -> None:
    def stop_after(eagerness: str) -> int:
        h = Harness()
        h.update({"type": "realtime", "audio": {"input": {"turn_detection": {
            "type": "semantic_vad", "eagerness": eagerness, "create_response": False}}}})
        append(h, pcm(400 * FRAME))
        events = vad(h, *([0.9] * 10 + [0.0] * 390))
        return int(only(events, "input_audio_buffer.speech_stopped")["audio_end_ms"])

    high, auto, low = stop_after("high"), stop_after("auto"), stop_after("low")
    assert high < auto < low
    assert low - 10 * FRAME <= 8000 and high - 10 * FRAME <= 2000


def test_idle_timeout_fires_after_the_reply_has_played() -> None:
    h = Harness(now=100.0)
    h.update({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "idle_timeout_ms": 5000}}}})
    assert h.session.next_deadline is None
    h.add_user("hi")
    rid, _ = h.start()
    h.now = 101.0
    h.done(rid)
    assert h.session.next_deadline == 106.0  # no audio played: response.done + 5 s
    append(h, pcm(10 * FRAME))
    vad(h, *([0.0] * 10))
    h.now = 105.9
    h.session.tick(h.now)
    assert h.drain() == []
    h.now = 106.0
    h.session.tick(h.now)
    events = h.drain()
    assert types(events)[:5] == [
        "input_audio_buffer.timeout_triggered", "input_audio_buffer.committed",
        "conversation.item.added", "conversation.item.done", "response.created"]
    fired = events[0]
    assert fired["item_id"] == events[1]["item_id"]
    assert fired["audio_end_ms"] == 10 * FRAME and fired["audio_start_ms"] == 10 * FRAME - 300
    assert h.session.next_deadline is None


def test_speech_disarms_the_idle_timeout() -> None:
    h = Harness()
    h.update({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "idle_timeout_ms": 5000, "create_response": False}}}})
    h.add_user("hi")
    rid, _ = h.start()
    h.done(rid)
    assert h.session.next_deadline is not None
    append(h, pcm(5 * FRAME))
    vad(h, *([0.9] * 5))
    assert h.session.next_deadline is None


def transcribing(model: str = "gpt-4o-transcribe", **extra: Any) -> Harness:
    h = Harness()
    h.update({"type": "realtime", "audio": {"input": {
        "turn_detection": None, "transcription": {"model": model, **extra}}}})
    return h


def commit(h: Harness, ms: int = 200) -> str:
    append(h, pcm(ms))
    events = h.send({"type": "input_audio_buffer.commit"})
    iid: str = events[0]["item_id"]
    return iid


def test_commit_asks_for_a_transcription_with_the_clients_model() -> None:
    h = transcribing("whisper-1", language="en", prompt="names: Ada")
    iid = commit(h, 250)
    (effect,) = h.effects()
    assert isinstance(effect, Transcribe)
    assert (effect.item_id, effect.model, effect.language, effect.prompt) == (
        iid, "whisper-1", "en", "names: Ada")
    assert len(effect.audio) == 250 * PCM_MS and effect.spec.rate == 24000


def test_without_the_config_turns_are_transcribed_for_the_llm_but_not_reported() -> None:
    h = Harness()
    h.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    iid = commit(h)
    (effect,) = h.effects()
    assert isinstance(effect, Transcribe) and effect.model == "whisper-1"
    assert h.result(TranscriptionDelta(iid, "hi")) == []
    assert h.result(TranscriptionDone(iid, "hi there", 0.2)) == []
    # The item keeps OpenAI's null transcript; the model still reads what was said.
    got = only(h.send({"type": "conversation.item.retrieve", "item_id": iid}),
               "conversation.item.retrieved")
    assert got["item"]["content"][0]["transcript"] is None
    _, gen = h.start()
    assert gen.items[-1].content[0].transcript == "hi there"  # type: ignore[union-attr]


def test_a_response_waits_for_the_transcript_of_its_turn() -> None:
    h = Harness()
    events = turn(h)
    rid = only(events, "response.created")["response"]["id"]
    iid = only(events, "input_audio_buffer.committed")["item_id"]
    assert [type(e) for e in h.effects()] == [Transcribe]  # no Generate yet
    h.result(TranscriptionDone(iid, "what time is it", 0.6))
    (gen,) = h.effects()
    assert isinstance(gen, Generate) and gen.response_id == rid
    assert gen.items[-1].content[0].transcript == "what time is it"  # type: ignore[union-attr]


def test_a_failed_transcript_releases_the_response_with_nothing_heard() -> None:
    h = Harness()
    events = turn(h)
    iid = only(events, "input_audio_buffer.committed")["item_id"]
    h.effects()
    h.result(TranscriptionFailed(iid, "stt_unavailable", "no engine"))
    (gen,) = h.effects()
    assert isinstance(gen, Generate)
    assert gen.items[-1].content[0].transcript == ""  # type: ignore[union-attr]


def test_a_response_cancelled_while_waiting_never_generates() -> None:
    h = Harness()
    events = turn(h)
    iid = only(events, "input_audio_buffer.committed")["item_id"]
    h.effects()
    h.cancel()
    h.effects()
    h.result(TranscriptionDone(iid, "late", 0.2))
    assert h.effects() == []


def test_transcription_deltas_then_completed_with_token_usage_fill_the_item() -> None:
    h = transcribing()
    iid = commit(h)
    h.effects()
    events = h.result(TranscriptionDelta(iid, "hello "))
    events += h.result(TranscriptionDelta(iid, "there"))
    events += h.result(TranscriptionDone(iid, "hello there", 0.2, 12, 3))
    assert types(events) == ["conversation.item.input_audio_transcription.delta"] * 2 + [
        "conversation.item.input_audio_transcription.completed"]
    done = events[-1]
    assert done["transcript"] == "hello there" and done["content_index"] == 0
    assert done["usage"] == {"type": "tokens", "input_tokens": 12, "output_tokens": 3,
                             "total_tokens": 15}
    got = only(h.send({"type": "conversation.item.retrieve", "item_id": iid}),
               "conversation.item.retrieved")
    assert got["item"]["content"][0]["transcript"] == "hello there"


def test_transcription_usage_is_duration_when_the_engine_gives_no_tokens() -> None:
    h = transcribing("whisper-1")
    iid = commit(h)
    done = only(h.result(TranscriptionDone(iid, "hi", 1.25)),
                "conversation.item.input_audio_transcription.completed")
    assert done["usage"] == {"type": "duration", "seconds": 1.25}


def test_transcription_failure_is_a_failed_event_not_an_error() -> None:
    h = transcribing()
    iid = commit(h)
    events = h.result(TranscriptionFailed(iid, "stt_http_500", "backend broke"))
    failed = only(events, "conversation.item.input_audio_transcription.failed")
    assert failed["item_id"] == iid
    assert failed["error"]["code"] == "stt_http_500"
    assert of_type(events, "error") == []


def test_transcription_of_a_deleted_item_still_reports_but_changes_nothing() -> None:
    h = transcribing()
    iid = commit(h)
    h.send({"type": "conversation.item.delete", "item_id": iid})
    events = h.result(TranscriptionDone(iid, "gone", 0.2))
    assert types(events) == ["conversation.item.input_audio_transcription.completed"]


def test_full_buffer_is_refused_and_keeps_what_it_had() -> None:
    from openrealtime.session.limits import Limits

    h = Harness(limits=Limits(max_buffer_ms=1000))
    h.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    append(h, pcm(900))
    err = error_of(append(h, pcm(200)))
    assert err["code"] == "input_audio_buffer_full"
    iid = commit(h, 0)
    item = h.session.conversation.get(iid)
    assert len(base64.b64decode(item.content[0].audio)) == 900 * PCM_MS  # type: ignore[union-attr]
