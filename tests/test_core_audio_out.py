"""The core's speech output: clause-by-clause synthesis, the audio event order, deferral of
what follows speech, cancel mid-speech, truncation and the voice lock (EVENTS.md §6.2, §6.5,
§6.7). Speech results are fed in by hand, as the runtime would."""

from __future__ import annotations

import base64
from typing import Any

from core_harness import Harness, error_of, of_type
from events import only, types

from openrealtime.session.config import Capabilities
from openrealtime.session.effects import (
    Generate,
    SpeechAudio,
    SpeechDone,
    SpeechFailed,
    Synthesize,
)

MS = 48  # bytes per ms of PCM16 at 24 kHz


def speaking() -> Harness:
    h = Harness(caps=Capabilities(audio_output=True))
    h.add_user("hi")
    return h


def segments(h: Harness) -> list[Synthesize]:
    out = []
    for e in h.effects():
        assert isinstance(e, Synthesize), e
        out.append(e)
    return out


def speak(h: Harness, rid: str, segment: int, ms: int) -> list[dict[str, Any]]:
    """The runtime's report for one segment: its audio (in 100 ms pieces), then done."""
    events: list[dict[str, Any]] = []
    left = ms
    while left > 0:
        piece = min(left, 100)
        events += h.result(SpeechAudio(rid, segment, b"\x00\x00" * 24 * piece))
        left -= piece
    return events + h.result(SpeechDone(rid, segment))


def test_default_modalities_are_audio_when_speech_output_exists() -> None:
    h = Harness(caps=Capabilities(audio_output=True))
    assert h.created[0]["session"]["output_modalities"] == ["audio"]


def test_text_is_spoken_by_clause_and_the_transcript_follows_the_audio() -> None:
    h = speaking()
    rid, _ = h.start()
    events = h.text(rid, "Hello there, ", "how are you today? I am")
    assert types(events) == ["response.output_item.added", "conversation.item.added",
                             "response.content_part.added"]
    assert events[2]["part"] == {"type": "audio", "transcript": ""}
    segs = segments(h)
    assert [s.text for s in segs] == ["Hello there,", " how are you today?"]
    assert all(s.voice == "marin" and s.speed == 1.0 and s.spec.rate == 24000 for s in segs)
    events = speak(h, rid, 0, 150)
    assert types(events) == ["response.output_audio_transcript.delta"] + [
        "response.output_audio.delta"] * 2
    assert events[0]["delta"] == "Hello there,"
    assert len(base64.b64decode(events[1]["delta"])) == 100 * MS


def test_the_response_ends_only_after_the_last_words_are_spoken() -> None:
    h = speaking()
    rid, _ = h.start()
    h.text(rid, "Hello there, friend")
    segments(h)
    speak(h, rid, 0, 100)
    assert h.done(rid) == []  # the rest of the text is still being spoken
    (last,) = segments(h)
    assert last.text == " friend" and last.segment == 1
    events = speak(h, rid, 1, 50)
    assert types(events) == [
        "response.output_audio_transcript.delta", "response.output_audio.delta",
        "response.output_audio.done", "response.output_audio_transcript.done",
        "response.content_part.done", "response.output_item.done", "conversation.item.done",
        "response.done"]
    assert events[3]["transcript"] == "Hello there, friend"
    assert events[4]["part"] == {"type": "audio", "transcript": "Hello there, friend"}
    item = events[5]["item"]
    assert item["status"] == "completed"
    assert item["content"] == [{"type": "output_audio", "transcript": "Hello there, friend"}]
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["usage"]["output_tokens"] == 5


def test_a_tool_call_waits_until_the_words_before_it_are_spoken() -> None:
    h = speaking()
    rid, _ = h.start()
    h.text(rid, "Let me check.")
    assert h.call(rid, 0, '{"city":', name="weather", call_id="call_1") == []
    assert h.call(rid, 0, '"Oslo"}') == []
    assert h.done(rid, "tool_calls") == []
    events = speak(h, rid, 0, 100)
    kinds = types(events)
    assert kinds.index("response.output_item.done") < kinds.index(
        "response.function_call_arguments.delta")
    args = only(events, "response.function_call_arguments.done")
    assert args["arguments"] == '{"city":"Oslo"}'
    assert kinds[-1] == "response.done"
    assert [o["type"] for o in events[-1]["response"]["output"]] == ["message", "function_call"]


def test_silent_segments_still_reach_the_transcript() -> None:
    h = speaking()
    rid, _ = h.start()
    h.text(rid, "Hm.")
    h.done(rid)
    segments(h)
    events = h.result(SpeechDone(rid, 0))
    assert only(events, "response.output_audio_transcript.delta")["delta"] == "Hm."
    assert types(events)[-1] == "response.done"


def test_cancel_mid_speech_keeps_only_what_was_spoken() -> None:
    h = speaking()
    rid, _ = h.start()
    h.text(rid, "First part, second part, and a third part that never gets said.")
    speak(h, rid, 0, 100)
    h.result(SpeechAudio(rid, 1, b"\x00" * 480))
    events = h.cancel()
    assert only(events, "response.output_audio_transcript.done")["transcript"] == (
        "First part, second part,")
    assert only(events, "response.output_item.done")["item"]["status"] == "incomplete"
    assert only(events, "response.done")["response"]["status"] == "cancelled"
    # Late speech of the cancelled response changes nothing.
    assert h.result(SpeechAudio(rid, 1, b"\x00" * 480)) == []


def test_a_speech_failure_fails_the_response() -> None:
    h = speaking()
    rid, _ = h.start()
    h.text(rid, "Hello there, friend")
    events = h.result(SpeechFailed(rid, "tts_http_500", "speech backend broke"))
    done = only(events, "response.done")["response"]
    assert done["status"] == "failed"
    assert done["status_details"]["error"]["code"] == "tts_http_500"


def test_text_modality_responses_do_not_speak() -> None:
    h = speaking()
    rid, _ = h.start({"output_modalities": ["text"]})
    events = h.text(rid, "Hello there, friend.")
    assert "response.output_text.delta" in types(events)
    assert h.effects() == []


def test_response_voice_and_format_reach_the_synthesis() -> None:
    h = speaking()
    h.update({"type": "realtime", "audio": {"output": {"speed": 1.5}}})
    rid, _ = h.start({"audio": {"output": {"voice": "ash",
                                           "format": {"type": "audio/pcmu"}}}})
    h.text(rid, "Hello there, friend")
    (seg,) = segments(h)
    assert (seg.voice, seg.speed, seg.spec.encoding, seg.spec.rate) == ("ash", 1.5, "pcmu", 8000)


def spoken_reply(h: Harness, *parts: tuple[str, int]) -> str:
    """A completed audio reply whose segments are ``(text, ms)``; returns its item id."""
    rid, _ = h.start()
    h.text(rid, "".join(text for text, _ in parts))
    h.done(rid)
    segs = segments(h)
    assert [s.text for s in segs] == [text for text, _ in parts]
    events: list[dict[str, Any]] = []
    for i, (_, ms) in enumerate(parts):
        events += speak(h, rid, i, ms)
    assert types(events)[-1] == "response.done"
    iid: str = only(events, "response.output_item.done")["item"]["id"]
    return iid


def truncate(h: Harness, iid: str, ms: int, **extra: Any) -> list[dict[str, Any]]:
    return h.send({"type": "conversation.item.truncate", "item_id": iid, "content_index": 0,
                   "audio_end_ms": ms, **extra})


def test_truncate_cuts_the_transcript_to_what_was_heard() -> None:
    h = speaking()
    iid = spoken_reply(h, ("The weather today,", 1000), (" is sunny with light winds.", 1000))
    events = truncate(h, iid, 1500)
    assert events == [{"type": "conversation.item.truncated", "event_id": events[0]["event_id"],
                       "item_id": iid, "content_index": 0, "audio_end_ms": 1500}]
    got = only(h.send({"type": "conversation.item.retrieve", "item_id": iid}),
               "conversation.item.retrieved")["item"]
    part = got["content"][0]
    # Half the second segment's audio: its first half of words, whole words only.
    assert part["transcript"] == "The weather today, is sunny"
    assert len(base64.b64decode(part["audio"])) == 1500 * MS
    # The next request sees only what the user heard.
    h.add_user("what?")
    _, gen = h.start({"output_modalities": ["text"]})
    assert isinstance(gen, Generate)
    assistant = gen.items[1]
    assert assistant.content[0].transcript == "The weather today, is sunny"  # type: ignore[union-attr]


def test_truncate_at_zero_removes_the_whole_transcript() -> None:
    h = speaking()
    iid = spoken_reply(h, ("Hello there,", 500), (" friend.", 500))
    truncate(h, iid, 0)
    item = h.session.conversation.get(iid)
    assert item.content[0].transcript == ""  # type: ignore[union-attr]


def test_truncate_beyond_the_audio_is_an_error_and_changes_nothing() -> None:
    h = speaking()
    iid = spoken_reply(h, ("Hello there,", 500), (" friend.", 500))
    err = error_of(truncate(h, iid, 1001, event_id="t9"))
    assert err["param"] == "audio_end_ms" and err["event_id"] == "t9"
    assert "1000ms" in err["message"]
    item = h.session.conversation.get(iid)
    assert item.content[0].transcript == "Hello there, friend."  # type: ignore[union-attr]


def test_truncate_twice_cannot_grow_the_audio_back() -> None:
    h = speaking()
    iid = spoken_reply(h, ("Hello there,", 500), (" friend.", 500))
    truncate(h, iid, 600)
    assert error_of(truncate(h, iid, 700))["param"] == "audio_end_ms"
    assert types(truncate(h, iid, 500)) == ["conversation.item.truncated"]


def test_truncate_while_speaking_cancels_the_response_first() -> None:
    h = speaking()
    rid, _ = h.start()
    h.text(rid, "Hello there, my friend")
    speak(h, rid, 0, 400)
    iid = h.session.conversation.snapshot()[-1].id
    events = truncate(h, str(iid), 200)
    assert types(events)[-2:] == ["response.done", "conversation.item.truncated"]
    assert only(events, "response.done")["response"]["status"] == "cancelled"


def test_voice_cannot_change_once_assistant_audio_exists() -> None:
    h = speaking()
    assert of_type(h.update({"type": "realtime", "audio": {"output": {"voice": "ash"}}}),
                   "error") == []
    spoken_reply(h, ("Hello there,", 100), (" friend.", 100))
    err = error_of(h.update({"type": "realtime", "audio": {"output": {"voice": "coral"}}}))
    assert err["code"] == "cannot_update_voice"
    # Re-sending the same voice, as SDKs do, is fine.
    assert of_type(h.update({"type": "realtime", "audio": {"output": {"voice": "ash"}}}),
                   "error") == []


def test_deleting_an_audio_item_forgets_its_audio() -> None:
    h = speaking()
    iid = spoken_reply(h, ("Hello there,", 100), (" friend.", 100))
    h.send({"type": "conversation.item.delete", "item_id": iid})
    assert iid not in h.session.tracks


def test_truncating_a_segment_cut_short_places_the_cut_by_speaking_rate() -> None:
    h = speaking()
    rid, _ = h.start()
    text = "Once upon a time there was a robot who sang."
    h.text(rid, text)
    h.done(rid)
    segments(h)
    h.result(SpeechAudio(rid, 0, b"\x00\x00" * 24 * 1000))  # 1 s of a ~3 s segment
    events = h.cancel()
    iid = only(events, "response.output_item.done")["item"]["id"]
    # The transcript shows all the text sent for speech; a cut at 1 s keeps about a third.
    assert only(events, "response.output_audio_transcript.done")["transcript"] == text
    truncate(h, iid, 1000)
    heard = h.session.conversation.get(iid).content[0].transcript  # type: ignore[union-attr]
    # 44 characters at 14 a second: 1 s of it is 14 characters, of which whole words stay.
    assert heard == "Once upon a"
