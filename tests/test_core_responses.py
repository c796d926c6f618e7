"""The response lifecycle: order of events, overrides, out-of-band, limits, failures, cancel
(EVENTS.md §3.8, §3.9, §6.2, §6.6, §6.10, §6.13)."""

from __future__ import annotations

from typing import Any

import msgspec
from core_harness import Harness, error_of, fn_tool, of_type, to_wire, user_text
from events import only, types

from openrealtime.protocol.items import MessageItem
from openrealtime.session.config import Capabilities
from openrealtime.session.effects import GenerationDone, TextDelta

TEXT_SEQUENCE = [
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]


def run_text(h: Harness, *chunks: str, response: dict[str, Any] | None = None,
             ) -> tuple[str, list[dict[str, Any]]]:
    rid, _ = h.start(response)
    events = h.text(rid, *chunks)
    events += h.done(rid)
    return rid, events


# --- §6.2: one text response -------------------------------------------------------------------


def test_response_create_answers_response_created_and_a_generate_effect() -> None:
    h = Harness()
    h.add_user()
    events = h.create_response()
    assert types(events) == ["response.created"]
    gen = h.generate()
    assert gen.response_id == events[0]["response"]["id"]


def test_response_created_shape() -> None:
    h = Harness()
    h.add_user()
    r = h.create_response()[0]["response"]
    assert r["id"].startswith("resp_")
    assert r["object"] == "realtime.response"
    assert r["status"] == "in_progress"
    assert r["status_details"] is None
    assert r["output"] == []
    assert r["usage"] is None
    assert r["conversation_id"].startswith("conv_")
    assert r["output_modalities"] == ["text"]
    assert r["audio"]["output"]["voice"] == "marin"
    assert r["max_output_tokens"] == "inf"
    assert r["metadata"] is None


def test_text_response_event_sequence_is_exact() -> None:
    h = Harness()
    h.add_user()
    _, events = run_text(h, "Hel", "lo ", "there")
    assert types(events) == TEXT_SEQUENCE


def test_text_response_shares_ids_and_indexes() -> None:
    h = Harness()
    h.add_user()
    rid, events = run_text(h, "a", "b", "c")
    item_id = events[0]["item"]["id"]
    for ev in events[:-1]:
        if ev["type"].startswith("response."):
            assert ev["response_id"] == rid
            assert ev["output_index"] == 0
        if "item_id" in ev:
            assert ev["item_id"] == item_id
            assert ev["content_index"] == 0
        if "item" in ev:
            assert ev["item"]["id"] == item_id
    assert events[-1]["response"]["id"] == rid


def test_deltas_concatenate_to_the_done_text_everywhere() -> None:
    h = Harness()
    h.add_user()
    _, events = run_text(h, "Hel", "lo, ", "wörld 👋")
    text = "".join(e["delta"] for e in of_type(events, "response.output_text.delta"))
    assert text == "Hello, wörld 👋"
    assert only(events, "response.output_text.done")["text"] == text
    assert only(events, "response.content_part.done")["part"] == {"type": "text", "text": text}
    final = {"type": "output_text", "text": text}
    assert only(events, "response.output_item.done")["item"]["content"] == [final]
    assert only(events, "conversation.item.done")["item"]["content"] == [final]
    assert only(events, "response.done")["response"]["output"][0]["content"] == [final]


def test_content_part_added_starts_with_empty_text() -> None:
    h = Harness()
    h.add_user()
    _, events = run_text(h, "x", "y", "z")
    part = only(events, "response.content_part.added")["part"]
    assert part == {"type": "text", "text": ""}


def test_output_item_added_shows_in_progress_empty_assistant_message() -> None:
    h = Harness()
    h.add_user()
    _, events = run_text(h, "x", "y", "z")
    for type_ in ("response.output_item.added", "conversation.item.added"):
        item = only(events, type_)["item"]
        assert item["type"] == "message" and item["role"] == "assistant"
        assert item["status"] == "in_progress"
        assert item["content"] == []


def test_added_snapshots_do_not_change_when_the_item_grows() -> None:
    # The events are kept as structs past later inputs; their items must stay as announced.
    h = Harness()
    h.add_user()
    rid, _ = h.start()
    h.session.receive_result(TextDelta(rid, "first"), 0.0)
    kept = h.session.events_to_send()
    h.session.receive_result(TextDelta(rid, " second"), 0.0)
    h.session.receive_result(GenerationDone(rid, "stop", 1, 2), 0.0)
    later = [to_wire(e) for e in h.session.events_to_send()]
    assert types(later)[-1] == "response.done"
    wire = [to_wire(e) for e in kept]
    for type_ in ("response.output_item.added", "conversation.item.added"):
        item = only(wire, type_)["item"]
        assert item["status"] == "in_progress"
        assert item["content"] == []
    assert only(wire, "response.content_part.added")["part"]["text"] == ""


def test_done_items_are_completed_with_output_text() -> None:
    h = Harness()
    h.add_user()
    _, events = run_text(h, "ok")
    for type_ in ("response.output_item.done", "conversation.item.done"):
        item = only(events, type_)["item"]
        assert item["status"] == "completed"
        assert item["content"] == [{"type": "output_text", "text": "ok"}]


def test_assistant_item_follows_the_last_item() -> None:
    h = Harness()
    h.add_user("a")
    last = h.add_user("b")
    _, events = run_text(h, "ok")
    assert only(events, "conversation.item.added")["previous_item_id"] == last
    assert only(events, "conversation.item.done")["previous_item_id"] == last


def test_response_on_an_empty_conversation_has_null_previous_item_id() -> None:
    _, events = run_text(Harness(), "hi")
    assert only(events, "conversation.item.added")["previous_item_id"] is None


def test_response_done_is_completed_with_usage_from_generation_done() -> None:
    h = Harness()
    h.add_user()
    rid, _ = h.start()
    h.text(rid, "ok")
    r = h.done(rid, input_tokens=11, output_tokens=4)[-1]["response"]
    assert r["status"] == "completed"
    assert r["status_details"] is None
    assert r["usage"]["input_tokens"] == 11
    assert r["usage"]["output_tokens"] == 4
    assert r["usage"]["total_tokens"] == 15
    assert r["usage"]["input_token_details"]["text_tokens"] == 11
    assert r["usage"]["output_token_details"]["text_tokens"] == 4
    assert [i["type"] for i in r["output"]] == ["message"]


def test_response_done_repeats_the_response_object() -> None:
    h = Harness()
    h.add_user()
    created = h.create_response({"metadata": {"k": "v"}})[0]["response"]
    rid = created["id"]
    h.generate()
    h.text(rid, "x")
    done = h.done(rid)[-1]["response"]
    for key in ("id", "object", "conversation_id", "output_modalities", "audio",
                "max_output_tokens", "metadata"):
        assert done[key] == created[key], key


def test_empty_generation_gives_a_completed_response_without_output() -> None:
    h = Harness()
    h.add_user()
    rid, _ = h.start()
    events = h.done(rid)
    assert types(events) == ["response.done"]
    assert events[0]["response"]["output"] == []
    assert events[0]["response"]["status"] == "completed"


def test_generate_effect_carries_session_settings_and_conversation() -> None:
    h = Harness(model="gpt-realtime-2")
    h.update({"type": "realtime", "instructions": "Be brief.", "tools": [fn_tool("f")],
              "max_output_tokens": 200})
    a = h.add_user("a")
    _, gen = h.start()
    assert gen.model == "gpt-realtime-2"
    assert gen.instructions == "Be brief."
    assert [t.name for t in gen.tools] == ["f"]
    assert gen.tool_choice == "auto"
    assert gen.max_output_tokens == 200
    assert [i.id for i in gen.items] == [a]


def test_inf_max_output_tokens_is_none_in_generate() -> None:
    h = Harness()
    _, gen = h.start()
    assert gen.max_output_tokens is None


def test_assistant_reply_is_part_of_the_next_context() -> None:
    h = Harness()
    a = h.add_user("a")
    _, events = run_text(h, "reply")
    reply = events[0]["item"]["id"]
    b = h.add_user("b")
    _, gen = h.start()
    assert [i.id for i in gen.items] == [a, reply, b]
    assert isinstance(gen.items[1], MessageItem)
    assert msgspec.to_builtins(gen.items[1].content) == [{"type": "output_text", "text": "reply"}]


def test_session_update_during_a_response_does_not_change_it() -> None:
    h = Harness()
    rid, _ = h.start()
    h.update({"type": "realtime", "max_output_tokens": 5})
    h.text(rid, "x")
    assert h.done(rid)[-1]["response"]["max_output_tokens"] == "inf"


# --- one default-conversation response at a time ------------------------------------------------


def test_second_response_create_while_active_is_refused() -> None:
    h = Harness()
    h.add_user()
    rid, _ = h.start()
    err = error_of(h.create_response(event_id="second"))
    assert err["code"] == "conversation_already_has_active_response"
    assert err["event_id"] == "second"
    assert rid in err["message"]
    assert h.effects() == []


def test_refused_second_response_does_not_disturb_the_first() -> None:
    h = Harness()
    rid, _ = h.start()
    h.text(rid, "a")
    error_of(h.create_response())
    events = h.text(rid, "b") + h.done(rid)
    assert types(events)[-1] == "response.done"
    assert only(events, "response.output_text.done")["text"] == "ab"
    assert len(of_type(h.history, "response.created")) == 1


def test_new_response_after_done_succeeds() -> None:
    h = Harness()
    run_text(h, "one")
    rid2, _ = h.start()
    assert types(h.done(rid2)) == ["response.done"]


def test_ids_differ_between_responses() -> None:
    h = Harness()
    r1, e1 = run_text(h, "one")
    r2, e2 = run_text(h, "two")
    assert r1 != r2
    assert e1[0]["item"]["id"] != e2[0]["item"]["id"]


# --- per-response overrides ----------------------------------------------------------------------


def test_instruction_override_reaches_generate_not_the_session() -> None:
    h = Harness()
    h.update({"type": "realtime", "instructions": "session"})
    _, gen = h.start({"instructions": "just this once"})
    assert gen.instructions == "just this once"
    assert h.config()["instructions"] == "session"


def test_empty_instruction_override_is_used() -> None:
    h = Harness()
    h.update({"type": "realtime", "instructions": "session"})
    _, gen = h.start({"instructions": ""})
    assert gen.instructions == ""


def test_tools_and_tool_choice_overrides_reach_generate_not_the_session() -> None:
    h = Harness()
    h.update({"type": "realtime", "tools": [fn_tool("a")]})
    before = h.config()
    _, gen = h.start({"tools": [fn_tool("b"), fn_tool("c")],
                      "tool_choice": {"type": "function", "name": "c"}})
    assert [t.name for t in gen.tools] == ["b", "c"]
    assert msgspec.to_builtins(gen.tool_choice) == {"type": "function", "name": "c"}
    assert h.config() == before


def test_tools_override_with_empty_list_gives_no_tools() -> None:
    h = Harness()
    h.update({"type": "realtime", "tools": [fn_tool("a")]})
    _, gen = h.start({"tools": []})
    assert gen.tools == ()


def test_tool_choice_override_naming_unknown_function_is_refused() -> None:
    h = Harness()
    h.update({"type": "realtime", "tools": [fn_tool("a")]})
    err = error_of(h.create_response({"tool_choice": {"type": "function", "name": "zzz"}}))
    assert err["param"] == "response.tool_choice.name"
    assert h.effects() == []


def test_mcp_tool_override_is_refused() -> None:
    h = Harness()
    err = error_of(h.create_response({"tools": [{"type": "mcp", "server_label": "x"}]}))
    assert err["param"] == "response.tools[0].type"
    assert h.effects() == []


def test_max_output_tokens_override_reaches_generate_and_response() -> None:
    h = Harness()
    h.add_user()
    events = h.create_response({"max_output_tokens": 42})
    assert events[0]["response"]["max_output_tokens"] == 42
    assert h.generate().max_output_tokens == 42
    assert h.config()["max_output_tokens"] == "inf"


def test_output_modalities_override_reaches_the_response_not_the_session() -> None:
    h = Harness(caps=Capabilities(audio_output=True))
    events = h.create_response({"output_modalities": ["text"]})
    assert events[0]["response"]["output_modalities"] == ["text"]
    assert h.config()["output_modalities"] == ["audio"]


def test_audio_modality_on_a_text_only_server_answers_in_text() -> None:
    h = Harness()
    events = h.create_response({"output_modalities": ["audio"]})
    assert events[0]["response"]["output_modalities"] == ["text"]


def test_two_modalities_in_response_create_are_refused() -> None:
    h = Harness()
    err = error_of(h.create_response({"output_modalities": ["text", "audio"]}))
    assert err["param"] == "response.output_modalities"
    assert h.effects() == []


def test_empty_modalities_in_response_create_are_refused() -> None:
    h = Harness()
    err = error_of(h.create_response({"output_modalities": []}))
    assert err["param"] == "response.output_modalities"
    assert h.effects() == []


def test_metadata_is_echoed_in_created_and_done() -> None:
    h = Harness()
    events = h.create_response({"metadata": {"topic": "weather", "n": "1"}})
    rid = events[0]["response"]["id"]
    assert events[0]["response"]["metadata"] == {"topic": "weather", "n": "1"}
    h.generate()
    assert h.done(rid)[-1]["response"]["metadata"] == {"topic": "weather", "n": "1"}


def test_voice_override_reaches_the_response_object() -> None:
    h = Harness()
    events = h.create_response({"audio": {"output": {"voice": "cedar"}}})
    assert events[0]["response"]["audio"]["output"]["voice"] == "cedar"
    assert h.config()["audio"]["output"]["voice"] == "marin"


def test_unknown_response_field_is_unknown_parameter() -> None:
    h = Harness()
    err = error_of(h.create_response({"modalities": ["text"]}, event_id="u1"))
    assert err["code"] == "unknown_parameter"
    assert err["param"] == "response.modalities"
    assert err["event_id"] == "u1"
    assert h.effects() == []


# --- out-of-band responses (conversation "none") -------------------------------------------------


def test_out_of_band_response_writes_no_conversation_items() -> None:
    h = Harness()
    h.add_user()
    _, events = run_text(h, "la", "bel", response={"conversation": "none"})
    assert types(events) == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "label"


def test_out_of_band_response_has_null_conversation_id_and_echoes_metadata() -> None:
    h = Harness()
    events = h.create_response({"conversation": "none", "metadata": {"topic": "cls"}})
    r = events[0]["response"]
    assert r["conversation_id"] is None
    assert r["metadata"] == {"topic": "cls"}
    rid = r["id"]
    h.generate()
    h.text(rid, "x")
    done = h.done(rid)[-1]["response"]
    assert done["conversation_id"] is None
    assert done["metadata"] == {"topic": "cls"}


def test_out_of_band_output_is_not_added_to_the_conversation() -> None:
    h = Harness()
    a = h.add_user()
    _, events = run_text(h, "side", response={"conversation": "none"})
    oob_item = events[0]["item"]["id"]
    err = error_of(h.send({"type": "conversation.item.retrieve", "item_id": oob_item}))
    assert err["code"] == "item_retrieve_invalid_item_id"
    _, gen = h.start()
    assert [i.id for i in gen.items] == [a]


def test_out_of_band_runs_beside_the_default_response() -> None:
    h = Harness()
    h.add_user()
    main, _ = h.start()
    side, _ = h.start({"conversation": "none"})
    side2, _ = h.start({"conversation": "none"})
    assert len({main, side, side2}) == 3
    assert set(h.session.active_response_ids) == {main, side, side2}
    h.text(main, "m")
    h.text(side, "s")
    side_done = h.done(side)
    assert side_done[-1]["response"]["output"][0]["content"][0]["text"] == "s"
    main_done = h.done(main)
    assert main_done[-1]["response"]["output"][0]["content"][0]["text"] == "m"
    assert h.done(side2)[-1]["response"]["status"] == "completed"


def test_out_of_band_does_not_block_a_default_response() -> None:
    h = Harness()
    h.start({"conversation": "none"})
    rid, _ = h.start()
    assert rid


def test_out_of_band_without_input_reads_the_conversation() -> None:
    h = Harness()
    a, b = h.add_user("a"), h.add_user("b")
    _, gen = h.start({"conversation": "none"})
    assert [i.id for i in gen.items] == [a, b]


def test_out_of_band_with_empty_input_has_empty_context() -> None:
    h = Harness()
    h.add_user("a")
    _, gen = h.start({"conversation": "none", "input": []})
    assert gen.items == ()


def test_default_response_with_empty_input_has_empty_context() -> None:
    h = Harness()
    h.add_user("a")
    _, gen = h.start({"input": []})
    assert gen.items == ()


def test_input_items_form_the_context_and_are_not_stored() -> None:
    h = Harness()
    a = h.add_user("a")
    _, gen = h.start({"conversation": "none",
                      "input": [user_text("classify this"),
                                {"type": "item_reference", "id": a}]})
    assert len(gen.items) == 2
    first = gen.items[0]
    assert isinstance(first, MessageItem)
    assert msgspec.to_builtins(first.content) == [{"type": "input_text", "text": "classify this"}]
    assert gen.items[1].id == a
    assert isinstance(first.id, str)
    assert first.id not in h.session.conversation
    assert len(h.session.conversation) == 1


def test_item_reference_resolves_to_the_stored_item() -> None:
    h = Harness()
    a, b = h.add_user("a"), h.add_user("b")
    _, gen = h.start({"conversation": "none", "input": [{"type": "item_reference", "id": b},
                                                        {"type": "item_reference", "id": a}]})
    assert [i.id for i in gen.items] == [b, a]
    assert gen.items[0] is h.session.conversation.get(b)


def test_full_item_with_an_existing_id_stands_for_that_item() -> None:
    h = Harness()
    a = h.add_user("a")
    _, gen = h.start({"conversation": "none", "input": [user_text("whatever", id=a)]})
    assert gen.items[0] is h.session.conversation.get(a)


def test_unknown_item_reference_is_refused() -> None:
    h = Harness()
    err = error_of(h.create_response({"conversation": "none",
                                      "input": [{"type": "item_reference", "id": "ghost"}]},
                                     event_id="ref"))
    assert err["param"] == "response.input[0].id"
    assert err["event_id"] == "ref"
    assert h.effects() == []
    assert h.session.active_response_ids == []


def test_invalid_input_item_is_refused() -> None:
    h = Harness()
    err = error_of(h.create_response({
        "conversation": "none",
        "input": [user_text(), {"type": "message", "role": "assistant",
                                "content": [{"type": "input_audio"}]}]}))
    assert err["code"] == "unsupported_content_type"
    assert err["param"] == "response.input[1].content[0].type"
    assert h.effects() == []


def test_function_call_output_in_input_may_answer_a_call_in_input() -> None:
    h = Harness()
    _, gen = h.start({"conversation": "none", "input": [
        {"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c9"},
        {"type": "function_call_output", "call_id": "c9", "output": "1"},
    ]})
    assert [i.__struct_config__.tag for i in gen.items] == ["function_call",
                                                           "function_call_output"]


def test_function_call_output_in_input_for_an_unknown_call_is_refused() -> None:
    h = Harness()
    err = error_of(h.create_response({"conversation": "none", "input": [
        {"type": "function_call_output", "call_id": "c9", "output": "1"}]}))
    assert err["param"] == "response.input[0].call_id"


# --- limits and failures (§6.13) ---------------------------------------------------------------


def test_length_finish_makes_the_response_incomplete() -> None:
    h = Harness()
    h.add_user()
    rid, _ = h.start({"max_output_tokens": 3})
    h.text(rid, "one two")
    events = h.done(rid, reason="length")
    assert types(events) == ["response.output_text.done", "response.content_part.done",
                             "response.output_item.done", "conversation.item.done",
                             "response.done"]
    assert events[0]["text"] == "one two"
    assert events[2]["item"]["status"] == "incomplete"
    assert events[3]["item"]["status"] == "incomplete"
    r = events[-1]["response"]
    assert r["status"] == "incomplete"
    assert r["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert r["output"][0]["status"] == "incomplete"
    assert r["usage"]["output_tokens"] == 5


def test_content_filter_finish_is_incomplete_content_filter() -> None:
    h = Harness()
    rid, _ = h.start()
    h.text(rid, "x")
    r = h.done(rid, reason="content_filter")[-1]["response"]
    assert r["status"] == "incomplete"
    assert r["status_details"]["reason"] == "content_filter"


def test_generation_failed_makes_the_response_failed_with_the_error_code() -> None:
    h = Harness()
    h.add_user()
    rid, _ = h.start()
    h.text(rid, "par")
    events = h.fail(rid, code="llm_timeout", message="took too long")
    assert types(events)[-1] == "response.done"
    assert only(events, "response.output_item.done")["item"]["status"] == "incomplete"
    r = events[-1]["response"]
    assert r["status"] == "failed"
    assert r["status_details"]["type"] == "failed"
    assert r["status_details"]["error"]["code"] == "llm_timeout"
    assert r["status_details"]["error"]["type"] == "server_error"


def test_failure_before_any_output_is_just_response_done() -> None:
    h = Harness()
    rid, _ = h.start()
    events = h.fail(rid)
    assert types(events) == ["response.done"]
    assert events[0]["response"]["status"] == "failed"


def test_new_response_after_failure_succeeds() -> None:
    h = Harness()
    rid, _ = h.start()
    h.fail(rid)
    assert h.start()[0] != rid


def test_late_results_after_done_are_ignored() -> None:
    h = Harness()
    rid, _ = h.start()
    h.text(rid, "x")
    h.done(rid)
    assert h.text(rid, "late") == []
    assert h.done(rid) == []
    assert h.fail(rid) == []
    assert h.call(rid, 0, "{}", "f", "c") == []
    assert h.effects() == []


def test_late_results_after_failure_are_ignored() -> None:
    h = Harness()
    rid, _ = h.start()
    h.fail(rid)
    assert h.text(rid, "late") == []
    assert h.done(rid) == []


def test_results_for_an_unknown_response_are_ignored() -> None:
    h = Harness()
    h.start()
    assert h.text("resp_nope", "x") == []


def test_every_response_ends_with_exactly_one_response_done() -> None:
    h = Harness()
    r1, _ = h.start()
    h.text(r1, "a")
    h.done(r1)
    r2, _ = h.start()
    h.fail(r2)
    r3, _ = h.start()
    h.cancel()
    created = [e["response"]["id"] for e in of_type(h.history, "response.created")]
    done = [e["response"]["id"] for e in of_type(h.history, "response.done")]
    assert created == done == [r1, r2, r3]


# --- response.cancel (§6.6) ----------------------------------------------------------------------


def test_cancel_without_id_cancels_the_default_response_mid_text() -> None:
    h = Harness()
    h.add_user()
    rid, _ = h.start()
    h.text(rid, "half", " a sentence")
    events = h.cancel()
    assert types(events) == ["response.output_text.done", "response.content_part.done",
                             "response.output_item.done", "conversation.item.done",
                             "response.done"]
    assert events[0]["text"] == "half a sentence"
    assert events[1]["part"] == {"type": "text", "text": "half a sentence"}
    assert events[2]["item"]["status"] == "incomplete"
    assert events[3]["item"]["status"] == "incomplete"
    r = events[-1]["response"]
    assert r["id"] == rid
    assert r["status"] == "cancelled"
    assert r["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert h.cancelled() == [rid]


def test_cancel_with_id() -> None:
    h = Harness()
    rid, _ = h.start()
    events = h.cancel(rid)
    assert types(events) == ["response.done"]
    assert events[0]["response"]["status"] == "cancelled"
    assert h.cancelled() == [rid]


def test_cancelled_partial_item_stays_in_the_conversation() -> None:
    h = Harness()
    rid, _ = h.start()
    iid = h.text(rid, "partial")[0]["item"]["id"]
    h.cancel()
    assert h.cancelled() == [rid]
    item = h.send({"type": "conversation.item.retrieve", "item_id": iid})[0]["item"]
    assert item["status"] == "incomplete"
    assert item["content"] == [{"type": "output_text", "text": "partial"}]
    _, gen = h.start()
    assert [i.id for i in gen.items] == [iid]


def test_cancel_with_nothing_active_is_response_cancel_not_active() -> None:
    h = Harness()
    err = error_of(h.cancel(event_id="c1"))
    assert err["code"] == "response_cancel_not_active"
    assert err["event_id"] == "c1"
    assert h.effects() == []


def test_cancel_after_done_is_not_active() -> None:
    h = Harness()
    rid, _ = h.start()
    h.done(rid)
    assert error_of(h.cancel())["code"] == "response_cancel_not_active"
    assert error_of(h.cancel(rid))["code"] == "response_cancel_not_active"


def test_cancel_with_unknown_id_is_not_active_and_leaves_the_response_running() -> None:
    h = Harness()
    rid, _ = h.start()
    assert error_of(h.cancel("resp_other"))["code"] == "response_cancel_not_active"
    assert h.effects() == []
    assert h.session.active_response_ids == [rid]


def test_second_cancel_is_not_active() -> None:
    h = Harness()
    h.start()
    h.cancel()
    assert error_of(h.cancel())["code"] == "response_cancel_not_active"


def test_results_after_cancel_are_ignored() -> None:
    h = Harness()
    rid, _ = h.start()
    h.text(rid, "a")
    h.cancel()
    assert h.text(rid, "b") == []
    assert h.done(rid) == []


def test_response_create_right_after_cancel_succeeds() -> None:
    h = Harness()
    rid, _ = h.start()
    h.text(rid, "a")
    h.cancel()
    h.cancelled()
    rid2, _ = h.start()
    assert rid2 != rid
    events = h.text(rid, "old") + h.text(rid2, "new") + h.done(rid2)
    assert only(events, "response.output_text.done")["text"] == "new"


def test_cancel_without_id_does_not_touch_out_of_band_responses() -> None:
    h = Harness()
    side, _ = h.start({"conversation": "none"})
    assert error_of(h.cancel())["code"] == "response_cancel_not_active"
    assert h.session.active_response_ids == [side]
    main, _ = h.start()
    events = h.cancel()
    assert only(events, "response.done")["response"]["id"] == main
    assert h.cancelled() == [main]
    assert h.session.active_response_ids == [side]


def test_out_of_band_response_is_cancelled_by_id() -> None:
    h = Harness()
    main, _ = h.start()
    side, _ = h.start({"conversation": "none"})
    h.text(side, "s")
    events = h.cancel(side)
    assert [t for t in types(events) if t.startswith("conversation.")] == []
    assert events[-1]["response"]["id"] == side
    assert events[-1]["response"]["status"] == "cancelled"
    assert h.cancelled() == [side]
    assert h.session.active_response_ids == [main]
