"""Function calling (EVENTS.md §3.6, §6.9)."""

from __future__ import annotations

import json
from typing import Any

from core_harness import Harness, error_of, fn_tool, of_type, to_wire
from events import only, types

from openrealtime.protocol.items import FunctionCallItem, FunctionCallOutputItem
from openrealtime.session.effects import GenerationDone, ToolCallDelta

CALL_SEQUENCE = [
    "response.output_item.added",
    "conversation.item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "conversation.item.done",
]


def with_tools(*names: str) -> Harness:
    h = Harness()
    h.update({"type": "realtime", "tools": [fn_tool(n) for n in names]})
    h.add_user("what's the weather?")
    return h


def one_call(h: Harness, name: str = "get_weather", call_id: str = "call_abc",
             ) -> tuple[str, list[dict[str, Any]]]:
    rid, _ = h.start()
    events = h.call(rid, 0, '{"city":', name, call_id)
    events += h.call(rid, 0, '"Paris"}')
    events += h.done(rid, reason="tool_calls")
    return rid, events


def test_single_call_event_sequence() -> None:
    _, events = one_call(with_tools("get_weather"))
    assert types(events) == [*CALL_SEQUENCE, "response.done"]


def test_call_has_no_content_part_events() -> None:
    _, events = one_call(with_tools("get_weather"))
    assert not [t for t in types(events) if "content_part" in t or "output_text" in t]


def test_call_item_added_is_in_progress_with_empty_arguments() -> None:
    _, events = one_call(with_tools("get_weather"))
    for type_ in ("response.output_item.added", "conversation.item.added"):
        item = only(events, type_)["item"]
        assert item["type"] == "function_call"
        assert item["status"] == "in_progress"
        assert item["arguments"] == ""
        assert item["name"] == "get_weather"
        assert item["call_id"] == "call_abc"


def test_call_added_snapshots_survive_later_input_before_encoding() -> None:
    # Feed the whole call before draining: the added events must still show the item as it
    # was announced, not as it ended.
    h = with_tools("f")
    rid, _ = h.start()
    h.session.receive_result(ToolCallDelta(rid, 0, '{"a":', "f", "c1"), 0.0)
    h.session.receive_result(ToolCallDelta(rid, 0, "1}"), 0.0)
    h.session.receive_result(GenerationDone(rid, "tool_calls", 1, 1), 0.0)
    events = [to_wire(e) for e in h.session.events_to_send()]
    for type_ in ("response.output_item.added", "conversation.item.added"):
        item = only(events, type_)["item"]
        assert (item["status"], item["arguments"]) == ("in_progress", "")
    done = only(events, "response.output_item.done")["item"]
    assert (done["status"], done["arguments"]) == ("completed", '{"a":1}')


def test_call_arguments_deltas_then_done_with_name_and_call_id() -> None:
    rid, events = one_call(with_tools("get_weather"))
    item_id = events[0]["item"]["id"]
    deltas = of_type(events, "response.function_call_arguments.delta")
    assert [d["delta"] for d in deltas] == ['{"city":', '"Paris"}']
    for d in deltas:
        assert (d["response_id"], d["item_id"], d["output_index"], d["call_id"]) == (
            rid, item_id, 0, "call_abc")
    done = only(events, "response.function_call_arguments.done")
    assert done["arguments"] == '{"city":"Paris"}'
    assert done["name"] == "get_weather"
    assert done["call_id"] == "call_abc"
    assert done["item_id"] == item_id
    assert json.loads(done["arguments"]) == {"city": "Paris"}


def test_call_items_end_completed_with_full_arguments() -> None:
    _, events = one_call(with_tools("get_weather"))
    for type_ in ("response.output_item.done", "conversation.item.done"):
        item = only(events, type_)["item"]
        assert item["status"] == "completed"
        assert item["arguments"] == '{"city":"Paris"}'
    r = only(events, "response.done")["response"]
    assert r["status"] == "completed"
    assert [(i["type"], i["status"]) for i in r["output"]] == [("function_call", "completed")]


def test_call_id_is_generated_when_the_engine_gives_none() -> None:
    h = with_tools("f")
    rid, _ = h.start()
    events = h.call(rid, 0, "{}", "f", None) + h.done(rid, reason="tool_calls")
    call_id = only(events, "response.function_call_arguments.done")["call_id"]
    assert call_id.startswith("call_")
    assert only(events, "response.output_item.done")["item"]["call_id"] == call_id


def test_several_calls_get_consecutive_output_indexes() -> None:
    h = with_tools("a", "b", "c")
    rid, _ = h.start()
    events: list[dict[str, Any]] = []
    for i, name in enumerate("abc"):
        events += h.call(rid, i, f'{{"i":{i}', name, f"call_{name}")
        events += h.call(rid, i, "}")
    events += h.done(rid, reason="tool_calls")
    assert types(events) == [*CALL_SEQUENCE * 3, "response.done"]
    added = of_type(events, "response.output_item.added")
    assert [e["output_index"] for e in added] == [0, 1, 2]
    done = of_type(events, "response.function_call_arguments.done")
    assert [(d["output_index"], d["name"], d["call_id"], d["arguments"]) for d in done] == [
        (0, "a", "call_a", '{"i":0}'), (1, "b", "call_b", '{"i":1}'),
        (2, "c", "call_c", '{"i":2}')]
    item_ids = [e["item"]["id"] for e in added]
    assert len(set(item_ids)) == 3
    for d in of_type(events, "response.function_call_arguments.delta"):
        assert item_ids[d["output_index"]] == d["item_id"]
    # Each call is announced after the previous one is finished.
    order = [(e["type"], e.get("output_index")) for e in events
             if e["type"] in ("response.output_item.added", "response.output_item.done")]
    assert order == [("response.output_item.added", 0), ("response.output_item.done", 0),
                     ("response.output_item.added", 1), ("response.output_item.done", 1),
                     ("response.output_item.added", 2), ("response.output_item.done", 2)]
    r = only(events, "response.done")["response"]
    assert [i["name"] for i in r["output"]] == ["a", "b", "c"]
    assert all(i["status"] == "completed" for i in r["output"])


def test_calls_chain_in_the_conversation() -> None:
    h = with_tools("a", "b")
    user = h.session.conversation.last_id()
    rid, _ = h.start()
    events = h.call(rid, 0, "{}", "a", "call_a") + h.call(rid, 1, "{}", "b", "call_b")
    events += h.done(rid, reason="tool_calls")
    added = of_type(events, "conversation.item.added")
    assert added[0]["previous_item_id"] == user
    assert added[1]["previous_item_id"] == added[0]["item"]["id"]


def test_text_then_call() -> None:
    h = with_tools("lookup")
    rid, _ = h.start()
    events = h.text(rid, "Let me ", "check.")
    events += h.call(rid, 0, '{"q":1}', "lookup", "call_q")
    events += h.done(rid, reason="tool_calls")
    assert types(events) == [
        "response.output_item.added", "conversation.item.added",
        "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "conversation.item.done",
        "response.output_item.added", "conversation.item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done", "conversation.item.done",
        "response.done",
    ]
    message_done, call_done = of_type(events, "response.output_item.done")
    assert message_done["output_index"] == 0
    assert message_done["item"]["content"] == [{"type": "output_text", "text": "Let me check."}]
    assert message_done["item"]["status"] == "completed"
    assert call_done["output_index"] == 1
    assert call_done["item"]["status"] == "completed"
    r = only(events, "response.done")["response"]
    assert [i["type"] for i in r["output"]] == ["message", "function_call"]


def test_call_then_text_opens_a_new_message() -> None:
    h = with_tools("f")
    rid, _ = h.start()
    events = h.call(rid, 0, "{}", "f", "c1") + h.text(rid, "after") + h.done(rid)
    added = of_type(events, "response.output_item.added")
    assert [(a["output_index"], a["item"]["type"]) for a in added] == [
        (0, "function_call"), (1, "message")]
    assert only(events, "response.output_text.delta")["output_index"] == 1


def test_call_with_empty_first_arguments_emits_no_empty_delta() -> None:
    h = with_tools("f")
    rid, _ = h.start()
    events = h.call(rid, 0, "", "f", "c1") + h.call(rid, 0, "{}") + h.done(rid)
    assert [d["delta"] for d in of_type(events, "response.function_call_arguments.delta")] == [
        "{}"]


def test_call_cut_by_length_is_incomplete() -> None:
    h = with_tools("f")
    rid, _ = h.start()
    h.call(rid, 0, '{"a":', "f", "c1")
    events = h.done(rid, reason="length")
    done = only(events, "response.output_item.done")
    assert done["item"]["status"] == "incomplete"
    assert done["item"]["arguments"] == '{"a":'
    assert events[-1]["response"]["status"] == "incomplete"


def test_cancelled_call_is_left_incomplete() -> None:
    h = with_tools("f")
    rid, _ = h.start()
    h.call(rid, 0, '{"a":', "f", "c1")
    events = h.cancel()
    assert types(events) == ["response.function_call_arguments.done",
                             "response.output_item.done", "conversation.item.done",
                             "response.done"]
    assert events[1]["item"]["status"] == "incomplete"
    assert events[-1]["response"]["status"] == "cancelled"


def test_follow_up_with_function_call_output_then_response_create() -> None:
    h = with_tools("get_weather")
    rid, events = one_call(h)
    call_item = only(events, "response.output_item.done")["item"]
    # Nothing happens on its own after the call.
    assert h.effects() == []
    out = h.create_item({"type": "function_call_output", "call_id": "call_abc",
                         "output": '{"temp": 21}'})
    assert types(out) == ["conversation.item.added", "conversation.item.done"]
    assert out[0]["previous_item_id"] == call_item["id"]
    assert h.effects() == []  # the server never continues by itself
    assert of_type(h.history, "response.created")[-1]["response"]["id"] == rid
    rid2, gen = h.start()
    assert rid2 != rid
    kinds = [type(i) for i in gen.items]
    assert kinds[-2:] == [FunctionCallItem, FunctionCallOutputItem]
    call, output = gen.items[-2], gen.items[-1]
    assert isinstance(call, FunctionCallItem) and isinstance(output, FunctionCallOutputItem)
    assert call.arguments == '{"city":"Paris"}'
    assert call.status == "completed"
    assert output.call_id == call.call_id == "call_abc"
    final = h.text(rid2, "It is 21 degrees.") + h.done(rid2)
    assert final[-1]["response"]["status"] == "completed"


def test_function_call_output_for_a_model_call_id_is_accepted_only_for_that_id() -> None:
    h = with_tools("get_weather")
    one_call(h, call_id="call_real")
    err = error_of(h.create_item({"type": "function_call_output", "call_id": "call_fake",
                                  "output": "x"}))
    assert err["param"] == "item.call_id"


def test_tools_reach_generate_as_function_tools() -> None:
    h = with_tools("a", "b")
    _, gen = h.start()
    assert [(t.name, t.description) for t in gen.tools] == [("a", "tool a"), ("b", "tool b")]
    assert gen.parallel_tool_calls is True


def test_tool_choice_required_and_none_reach_generate() -> None:
    h = with_tools("a")
    h.update({"type": "realtime", "tool_choice": "required"})
    rid, gen = h.start()
    assert gen.tool_choice == "required"
    h.cancel()
    assert h.cancelled() == [rid]
    _, gen = h.start({"tool_choice": "none"})
    assert gen.tool_choice == "none"


def test_parallel_tool_calls_override_reaches_generate() -> None:
    h = with_tools("a")
    _, gen = h.start({"parallel_tool_calls": False})
    assert gen.parallel_tool_calls is False
    assert h.config()["parallel_tool_calls"] is True


def test_invalid_tool_name_is_refused() -> None:
    h = Harness()
    err = error_of(h.update({"type": "realtime", "tools": [fn_tool("has space")]}))
    assert err["param"] is not None and err["param"].startswith("session.tools[0]")
    assert h.config()["tools"] == []


def test_server_never_starts_a_response_by_itself() -> None:
    h = with_tools("f")
    h.create_item({"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c"})
    h.create_item({"type": "function_call_output", "call_id": "c", "output": "ok"})
    h.send({"type": "input_audio_buffer.append", "audio": "AAAA" * 1600})
    h.send({"type": "input_audio_buffer.commit"})
    assert of_type(h.history, "response.created") == []
    assert [type(e).__name__ for e in h.effects()] == ["Transcribe"]
    assert h.session.active_response_ids == []
