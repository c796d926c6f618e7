"""Per-session limits, odd-but-legal inputs, and races between the client and generation."""

from __future__ import annotations

import base64

from core_harness import PCM_100MS, Harness, error_of, of_type, user_text
from events import only, types

from openrealtime.session.limits import Limits


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- limits ------------------------------------------------------------------------------------


def test_append_over_the_buffer_limit_is_refused_and_keeps_the_buffer() -> None:
    h = Harness(limits=Limits(max_buffer_ms=150))
    assert h.send({"type": "input_audio_buffer.append", "audio": b64(PCM_100MS)}) == []
    err = error_of(h.send({"type": "input_audio_buffer.append", "audio": b64(PCM_100MS),
                           "event_id": "full"}))
    assert err["code"] == "input_audio_buffer_full"
    assert err["event_id"] == "full"
    events = h.send({"type": "input_audio_buffer.commit"})
    iid = events[0]["item_id"]
    item = h.send({"type": "conversation.item.retrieve", "item_id": iid})[0]["item"]
    assert base64.b64decode(item["content"][0]["audio"]) == PCM_100MS


def test_append_over_the_per_event_limit_is_refused() -> None:
    h = Harness(limits=Limits(max_append_b64=100))
    err = error_of(h.send({"type": "input_audio_buffer.append", "audio": "A" * 104}))
    assert err["param"] == "audio"


def test_retrieve_too_large_for_one_frame_leaves_the_audio_out() -> None:
    h = Harness(limits=Limits(max_frame_bytes=8000))
    h.send({"type": "input_audio_buffer.append", "audio": b64(PCM_100MS)})  # 6400 b64 chars
    h.send({"type": "input_audio_buffer.append", "audio": b64(PCM_100MS)})
    iid = h.send({"type": "input_audio_buffer.commit"})[0]["item_id"]
    events = h.send({"type": "conversation.item.retrieve", "item_id": iid})
    assert types(events) == ["conversation.item.retrieved"]
    part = events[0]["item"]["content"][0]
    assert part["type"] == "input_audio"
    assert "audio" not in part


def test_item_whose_echo_exceeds_the_frame_limit_is_refused() -> None:
    h = Harness(limits=Limits(max_frame_bytes=2000))
    err = error_of(h.create_item(user_text("x" * 3000)))
    assert err["param"] == "item"
    assert len(h.session.conversation) == 0


def test_session_update_whose_echo_exceeds_the_frame_limit_is_refused() -> None:
    h = Harness(limits=Limits(max_frame_bytes=4000))
    before = h.config()
    err = error_of(h.update({"type": "realtime", "instructions": "x" * 5000}))
    assert err["param"] == "session"
    assert h.config() == before


def test_metadata_with_more_than_16_pairs_is_refused() -> None:
    h = Harness()
    err = error_of(h.create_response({"metadata": {f"k{i}": "v" for i in range(17)}}))
    assert err["param"] == "response.metadata"
    assert h.effects() == []


def test_metadata_with_16_pairs_is_accepted() -> None:
    h = Harness()
    meta = {f"k{i}": "v" for i in range(16)}
    assert h.create_response({"metadata": meta})[0]["response"]["metadata"] == meta


def test_expire_with_several_responses_cancels_them_all() -> None:
    h = Harness()
    main, _ = h.start()
    side, _ = h.start({"conversation": "none"})
    events = h.expire()
    done = of_type(events, "response.done")
    assert sorted(d["response"]["id"] for d in done) == sorted([main, side])
    assert all(d["response"]["status"] == "cancelled" for d in done)
    assert events[-1]["type"] == "error"
    assert sorted(h.cancelled()) == sorted([main, side])
    assert h.expire() == []


def test_expire_message_names_the_limit() -> None:
    err = error_of(Harness(limits=Limits(max_session_s=1800)).expire())
    assert err["code"] == "session_expired"
    assert "30 minutes" in err["message"]


# --- odd but legal session updates ---------------------------------------------------------------


def test_unknown_nested_fields_from_newer_sdks_are_ignored() -> None:
    h = Harness()
    events = h.update({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "semantic_vad", "model_version": "v2"}}}})
    td = events[0]["session"]["audio"]["input"]["turn_detection"]
    assert td["type"] == "semantic_vad"
    assert "model_version" not in td


def test_custom_voice_object_is_echoed_as_its_id() -> None:
    h = Harness()
    events = h.update({"type": "realtime", "audio": {"output": {"voice": {"id": "voice_123"}}}})
    assert events[0]["session"]["audio"]["output"]["voice"] == "voice_123"


def test_pcm_at_another_rate_is_refused() -> None:
    h = Harness()
    err = error_of(h.update({"type": "realtime", "audio": {"input": {
        "format": {"type": "audio/pcm", "rate": 16000}}}}))
    assert err["param"] == "session.audio.input.format.rate"


def test_include_logprobs_and_reasoning_are_stored() -> None:
    h = Harness()
    s = h.update({"type": "realtime", "include": ["item.input_audio_transcription.logprobs"],
                  "reasoning": {"effort": "high"}, "truncation": "disabled"})[0]["session"]
    assert s["include"] == ["item.input_audio_transcription.logprobs"]
    assert s["reasoning"] == {"effort": "high"}
    assert s["truncation"] == "disabled"


# --- the client racing generation ----------------------------------------------------------------


def test_deleting_the_item_being_generated_suppresses_its_conversation_done() -> None:
    h = Harness()
    rid, _ = h.start()
    iid = h.text(rid, "a")[0]["item"]["id"]
    assert types(h.send({"type": "conversation.item.delete", "item_id": iid})) == [
        "conversation.item.deleted"]
    events = h.text(rid, "b") + h.done(rid)
    assert "conversation.item.done" not in types(events)
    assert only(events, "response.output_item.done")["item"]["content"][0]["text"] == "ab"
    assert events[-1]["response"]["status"] == "completed"
    _, gen = h.start()
    assert gen.items == ()


def test_item_created_during_a_response_goes_after_the_assistant_item() -> None:
    h = Harness()
    rid, _ = h.start()
    assistant = h.text(rid, "a")[0]["item"]["id"]
    user = h.add_user("interjection")
    assert h.history[-2]["previous_item_id"] == assistant
    events = h.call(rid, 0, "{}", "f", "c1") + h.done(rid)
    added = only(events, "conversation.item.added")
    assert added["previous_item_id"] == user


def test_cancel_racing_natural_completion() -> None:
    h = Harness()
    rid, _ = h.start()
    h.text(rid, "x")
    h.done(rid)
    # The client's cancel arrives after response.done: benign error, no effect.
    assert error_of(h.cancel(rid))["code"] == "response_cancel_not_active"
    assert h.effects() == []


def test_retrieve_of_an_assistant_item_in_progress_shows_it_in_progress() -> None:
    h = Harness()
    rid, _ = h.start()
    iid = h.text(rid, "a")[0]["item"]["id"]
    item = h.send({"type": "conversation.item.retrieve", "item_id": iid})[0]["item"]
    assert item["status"] == "in_progress"
    h.done(rid)
    item = h.send({"type": "conversation.item.retrieve", "item_id": iid})[0]["item"]
    assert item["status"] == "completed"
    assert item["content"] == [{"type": "output_text", "text": "a"}]


def test_insert_before_the_assistant_item_keeps_later_items_in_place() -> None:
    h = Harness()
    u1 = h.add_user("1")
    rid, _ = h.start()
    a = h.text(rid, "r")[0]["item"]["id"]
    h.done(rid)
    h.create_item(user_text("0", id="zero"), previous_item_id="root")
    _, gen = h.start()
    assert [i.id for i in gen.items] == ["zero", u1, a]
