"""Conversation items: create / retrieve / delete, and the input audio buffer
(EVENTS.md §6.3, §6.8)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from core_harness import PCM_100MS, Harness, error_of, user_text
from events import types

from openrealtime.session.effects import DetectSpeech, Transcribe, TranscriptionDone

ADDED_DONE = ["conversation.item.added", "conversation.item.done"]


def order(h: Harness) -> list[str]:
    """Ids of the conversation as the model would see it (the ``Generate`` context)."""
    events = h.create_response()
    assert types(events) == ["response.created"]
    gen = h.generate()
    ids = [str(i.id) for i in gen.items]
    h.cancel()
    h.cancelled()
    return ids


def created(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The item of an added/done pair; both events must agree."""
    assert types(events) == ADDED_DONE, events
    added, done = events
    assert added["item"] == done["item"]
    assert added["previous_item_id"] == done["previous_item_id"]
    item: dict[str, Any] = added["item"]
    return item


# --- conversation.item.create --------------------------------------------------------------------


def test_create_answers_added_then_done_and_nothing_else() -> None:
    h = Harness()
    item = created(h.create_item(user_text("hello")))
    assert item["type"] == "message" and item["role"] == "user"
    assert item["content"] == [{"type": "input_text", "text": "hello"}]
    assert item["status"] == "completed"
    assert item["object"] == "realtime.item"
    assert h.effects() == []  # creating an item never starts a response


def test_first_item_has_null_previous_item_id() -> None:
    events = Harness().create_item(user_text())
    assert [e["previous_item_id"] for e in events] == [None, None]


def test_appended_item_points_at_the_last_item() -> None:
    h = Harness()
    a = h.add_user("a")
    events = h.create_item(user_text("b"))
    assert [e["previous_item_id"] for e in events] == [a, a]


def test_null_previous_item_id_appends() -> None:
    h = Harness()
    a = h.add_user("a")
    b = created(h.create_item(user_text("b"), previous_item_id=None))["id"]
    assert order(h) == [a, b]


def test_generated_ids_are_unique_item_ids() -> None:
    h = Harness()
    ids = [h.add_user(str(i)) for i in range(5)]
    assert all(i.startswith("item_") for i in ids)
    assert len(set(ids)) == 5


def test_client_id_is_kept() -> None:
    h = Harness()
    assert created(h.create_item(user_text(id="my_item_1")))["id"] == "my_item_1"
    assert order(h) == ["my_item_1"]


def test_root_inserts_first() -> None:
    h = Harness()
    a, b = h.add_user("a"), h.add_user("b")
    events = h.create_item(user_text("r", id="r"), previous_item_id="root")
    assert [e["previous_item_id"] for e in events] == [None, None]
    assert order(h) == ["r", a, b]


def test_insert_after_an_existing_id() -> None:
    h = Harness()
    a, b = h.add_user("a"), h.add_user("b")
    events = h.create_item(user_text("m", id="m"), previous_item_id=a)
    assert [e["previous_item_id"] for e in events] == [a, a]
    assert order(h) == [a, "m", b]


def test_unknown_previous_item_id_is_refused_and_nothing_is_inserted() -> None:
    h = Harness()
    a = h.add_user("a")
    err = error_of(h.create_item(user_text(id="x"), previous_item_id="nope", event_id="e7"))
    assert err["param"] == "previous_item_id"
    assert err["event_id"] == "e7"
    assert order(h) == [a]
    # The refused id is still free.
    assert created(h.create_item(user_text(id="x")))["id"] == "x"


def test_duplicate_id_is_refused() -> None:
    h = Harness()
    h.create_item(user_text("one", id="dup"))
    err = error_of(h.create_item(user_text("two", id="dup")))
    assert err["param"] == "item.id"
    assert order(h) == ["dup"]


def test_id_of_33_chars_is_refused_and_32_accepted() -> None:
    h = Harness()
    err = error_of(h.create_item(user_text(id="x" * 33)))
    assert err["param"] == "item.id"
    assert created(h.create_item(user_text(id="y" * 32)))["id"] == "y" * 32
    assert order(h) == ["y" * 32]


def test_empty_id_is_refused() -> None:
    err = error_of(Harness().create_item(user_text(id="")))
    assert err["param"] == "item.id"


def test_client_status_is_replaced_by_completed() -> None:
    item = created(Harness().create_item(user_text(status="in_progress")))
    assert item["status"] == "completed"


# --- content-part rules ------------------------------------------------------------------------


def message(role: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": list(parts)}


TEXT_IN = {"type": "input_text", "text": "t"}
TEXT_OUT = {"type": "output_text", "text": "t"}
AUDIO_IN = {"type": "input_audio", "audio": base64.b64encode(PCM_100MS).decode()}
IMAGE_IN = {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}


@pytest.mark.parametrize(("role", "part"), [
    ("system", TEXT_IN),
    ("user", TEXT_IN),
    ("user", AUDIO_IN),
    ("user", IMAGE_IN),
    ("assistant", TEXT_OUT),
])
def test_allowed_parts_per_role(role: str, part: dict[str, Any]) -> None:
    item = created(Harness().create_item(message(role, part)))
    assert item["role"] == role
    assert item["content"][0]["type"] == part["type"]


@pytest.mark.parametrize(("role", "part"), [
    ("system", AUDIO_IN),
    ("system", TEXT_OUT),
    ("user", TEXT_OUT),
])
def test_refused_parts_for_system_and_user(role: str, part: dict[str, Any]) -> None:
    h = Harness()
    err = error_of(h.create_item(message(role, TEXT_IN, part)))
    assert err["param"] == "item.content[1].type"
    assert order(h) == []


@pytest.mark.parametrize("part", [AUDIO_IN, TEXT_IN, {"type": "output_audio", "transcript": "x"}])
def test_assistant_non_text_parts_are_unsupported_content_type(part: dict[str, Any]) -> None:
    h = Harness()
    err = error_of(h.create_item(message("assistant", part), event_id="a1"))
    assert err["code"] == "unsupported_content_type"
    assert err["param"] == "item.content[0].type"
    assert err["event_id"] == "a1"
    assert order(h) == []


def test_assistant_output_text_without_text_is_missing_required_parameter() -> None:
    h = Harness()
    err = error_of(h.create_item(message("assistant", {"type": "output_text"})))
    assert err["code"] == "missing_required_parameter"
    assert err["param"] == "item.content[0].text"
    assert order(h) == []


def test_message_without_content_parts_is_refused() -> None:
    h = Harness()
    err = error_of(h.create_item(message("user")))
    assert err["param"] == "item.content"


def test_item_reference_cannot_be_created_as_an_item() -> None:
    h = Harness()
    a = h.add_user()
    err = error_of(h.create_item({"type": "item_reference", "id": a}))
    assert err["param"] is not None and err["param"].startswith("item")
    assert order(h) == [a]


def test_unknown_item_type_is_refused() -> None:
    err = error_of(Harness().create_item({"type": "reasoning", "summary": []}))
    assert err["param"] is not None and err["param"].startswith("item")


def test_events_carrying_an_audio_part_leave_the_audio_out() -> None:
    h = Harness()
    item = created(h.create_item(message("user", AUDIO_IN)))
    assert "audio" not in item["content"][0]
    # ...but retrieve returns it.
    events = h.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
    assert events[0]["item"]["content"][0]["audio"] == AUDIO_IN["audio"]


# --- function calls and their outputs ------------------------------------------------------------


def test_client_function_call_gets_a_call_id() -> None:
    h = Harness()
    item = created(h.create_item({"type": "function_call", "name": "f", "arguments": "{}"}))
    assert item["call_id"].startswith("call_")
    assert item["status"] == "completed"


def test_function_call_output_for_a_known_call_is_accepted() -> None:
    h = Harness()
    h.create_item({"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c1"})
    item = created(h.create_item({"type": "function_call_output", "call_id": "c1",
                                  "output": "42"}))
    assert item["type"] == "function_call_output"
    assert item["output"] == "42"


def test_function_call_output_with_unknown_call_id_is_refused() -> None:
    h = Harness()
    h.create_item({"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c1"})
    err = error_of(h.create_item({"type": "function_call_output", "call_id": "c2",
                                  "output": "42"}, event_id="o1"))
    assert err["param"] == "item.call_id"
    assert err["event_id"] == "o1"
    assert len(order(h)) == 1


def test_function_call_output_after_its_call_was_deleted_is_refused() -> None:
    h = Harness()
    h.create_item({"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c1",
                   "id": "fc"})
    h.send({"type": "conversation.item.delete", "item_id": "fc"})
    error_of(h.create_item({"type": "function_call_output", "call_id": "c1", "output": "x"}))


# --- retrieve / delete ---------------------------------------------------------------------------


def test_retrieve_returns_the_item() -> None:
    h = Harness()
    iid = h.add_user("hello")
    events = h.send({"type": "conversation.item.retrieve", "item_id": iid})
    assert types(events) == ["conversation.item.retrieved"]
    assert events[0]["item"]["id"] == iid
    assert events[0]["item"]["content"] == [{"type": "input_text", "text": "hello"}]


def test_retrieve_unknown_is_item_retrieve_invalid_item_id_echoing_event_id() -> None:
    err = error_of(Harness().send({"type": "conversation.item.retrieve", "item_id": "nope",
                                   "event_id": "r1"}))
    assert err["code"] == "item_retrieve_invalid_item_id"
    assert err["param"] == "item_id"
    assert err["event_id"] == "r1"


def test_error_without_client_event_id_has_null_event_id() -> None:
    err = error_of(Harness().send({"type": "conversation.item.retrieve", "item_id": "nope"}))
    assert err["event_id"] is None


def test_delete_answers_deleted() -> None:
    h = Harness()
    iid = h.add_user()
    events = h.send({"type": "conversation.item.delete", "item_id": iid})
    assert types(events) == ["conversation.item.deleted"]
    assert events[0]["item_id"] == iid


def test_delete_unknown_is_item_delete_invalid_item_id_echoing_event_id() -> None:
    err = error_of(Harness().send({"type": "conversation.item.delete", "item_id": "nope",
                                   "event_id": "d1"}))
    assert err["code"] == "item_delete_invalid_item_id"
    assert err["event_id"] == "d1"


def test_deleted_item_cannot_be_retrieved_or_deleted_again() -> None:
    h = Harness()
    iid = h.add_user()
    h.send({"type": "conversation.item.delete", "item_id": iid})
    err = error_of(h.send({"type": "conversation.item.retrieve", "item_id": iid}))
    assert err["code"] == "item_retrieve_invalid_item_id"
    err = error_of(h.send({"type": "conversation.item.delete", "item_id": iid}))
    assert err["code"] == "item_delete_invalid_item_id"


def test_delete_removes_the_item_from_later_generate_context() -> None:
    h = Harness()
    a, b, c = h.add_user("a"), h.add_user("b"), h.add_user("c")
    h.send({"type": "conversation.item.delete", "item_id": b})
    assert order(h) == [a, c]


def test_deleted_id_can_be_reused() -> None:
    h = Harness()
    h.create_item(user_text(id="same"))
    h.send({"type": "conversation.item.delete", "item_id": "same"})
    assert created(h.create_item(user_text("again", id="same")))["id"] == "same"


def test_insert_after_a_deleted_item_is_refused() -> None:
    h = Harness()
    a = h.add_user("a")
    h.send({"type": "conversation.item.delete", "item_id": a})
    err = error_of(h.create_item(user_text(), previous_item_id=a))
    assert err["param"] == "previous_item_id"


def test_truncate_of_a_user_item_is_unsupported_content_type() -> None:
    h = Harness()
    iid = h.add_user()
    err = error_of(h.send({"type": "conversation.item.truncate", "item_id": iid,
                           "content_index": 0, "audio_end_ms": 10}))
    assert err["code"] == "unsupported_content_type"


def test_truncate_of_unknown_item_is_item_truncate_invalid_item_id() -> None:
    err = error_of(Harness().send({"type": "conversation.item.truncate", "item_id": "nope",
                                   "content_index": 0, "audio_end_ms": 10, "event_id": "t1"}))
    assert err["code"] == "item_truncate_invalid_item_id"
    assert err["event_id"] == "t1"


# --- input audio buffer --------------------------------------------------------------------------


def append(h: Harness, pcm: bytes) -> list[dict[str, Any]]:
    return h.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})


def commit(h: Harness, **extra: Any) -> list[dict[str, Any]]:
    return h.send({"type": "input_audio_buffer.commit", **extra})


def test_append_answers_nothing_and_asks_vad_when_turn_detection_is_on() -> None:
    h = Harness()
    assert append(h, PCM_100MS) == []
    (effect,) = h.effects(vad=True)
    assert isinstance(effect, DetectSpeech) and effect.audio == PCM_100MS


def test_append_without_turn_detection_asks_nothing() -> None:
    h = Harness()
    h.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    assert append(h, PCM_100MS) == []
    assert h.effects(vad=True) == []


def test_append_bad_base64_is_an_error() -> None:
    h = Harness()
    err = error_of(h.send({"type": "input_audio_buffer.append", "audio": "not*base64!",
                           "event_id": "b1"}))
    assert err["param"] == "audio"
    assert err["event_id"] == "b1"


def test_bad_append_adds_nothing_to_the_buffer() -> None:
    h = Harness()
    append(h, PCM_100MS[:-2])
    h.send({"type": "input_audio_buffer.append", "audio": "@@@@"})
    err = error_of(commit(h))
    assert err["code"] == "input_audio_buffer_commit_empty"


def test_commit_of_an_empty_buffer_is_commit_empty() -> None:
    err = error_of(commit(Harness(), event_id="c0"))
    assert err["code"] == "input_audio_buffer_commit_empty"
    assert err["event_id"] == "c0"


def test_commit_under_100ms_is_commit_empty() -> None:
    h = Harness()
    append(h, PCM_100MS[:-2])  # 99.98 ms
    err = error_of(commit(h))
    assert err["code"] == "input_audio_buffer_commit_empty"
    assert order(h) == []


def test_commit_empty_keeps_what_was_appended() -> None:
    h = Harness()
    append(h, PCM_100MS[:2400])
    error_of(commit(h))
    append(h, PCM_100MS[2400:])
    assert types(commit(h))[0] == "input_audio_buffer.committed"


def test_commit_sequence_committed_added_done() -> None:
    h = Harness()
    prev = h.add_user("before")
    append(h, PCM_100MS)
    events = commit(h)
    assert types(events) == ["input_audio_buffer.committed", *ADDED_DONE]
    committed, added, done = events
    assert committed["previous_item_id"] == prev
    iid = committed["item_id"]
    for ev in (added, done):
        assert ev["item"]["id"] == iid
        assert ev["previous_item_id"] == prev
        assert ev["item"]["role"] == "user"
        assert ev["item"]["status"] == "completed"
        assert ev["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    # Commit never starts a response; it only asks for the transcript the LLM will read.
    assert [type(e) for e in h.effects()] == [Transcribe]


def test_commit_of_g711_needs_800_bytes() -> None:
    h = Harness()
    h.update({"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}})
    append(h, b"\xff" * 799)
    error_of(commit(h))
    append(h, b"\xff")
    assert types(commit(h))[0] == "input_audio_buffer.committed"


def test_retrieve_of_committed_audio_returns_the_audio() -> None:
    h = Harness()
    append(h, PCM_100MS[:3000])
    append(h, PCM_100MS[3000:] + b"\x02\x00" * 100)
    iid = commit(h)[0]["item_id"]
    events = h.send({"type": "conversation.item.retrieve", "item_id": iid})
    part = events[0]["item"]["content"][0]
    assert base64.b64decode(part["audio"]) == PCM_100MS + b"\x02\x00" * 100
    assert part["transcript"] is None


def test_commit_empties_the_buffer() -> None:
    h = Harness()
    append(h, PCM_100MS)
    commit(h)
    assert error_of(commit(h))["code"] == "input_audio_buffer_commit_empty"


def test_clear_answers_cleared_and_empties_the_buffer() -> None:
    h = Harness()
    append(h, PCM_100MS)
    assert types(h.send({"type": "input_audio_buffer.clear"})) == ["input_audio_buffer.cleared"]
    assert error_of(commit(h))["code"] == "input_audio_buffer_commit_empty"
    assert order(h) == []


def test_clear_of_an_empty_buffer_still_answers_cleared() -> None:
    assert types(Harness().send({"type": "input_audio_buffer.clear"})) == [
        "input_audio_buffer.cleared"]


def test_committed_item_is_in_the_generate_context() -> None:
    h = Harness()
    a = h.add_user("text first")
    append(h, PCM_100MS)
    iid = commit(h)[0]["item_id"]
    h.effects()
    h.result(TranscriptionDone(iid, "spoken", 0.1))
    assert order(h) == [a, iid]
