"""Session lifecycle and ``session.update`` (EVENTS.md §3.2, §4.1, §6.1, §6.14)."""

from __future__ import annotations

from typing import Any

import pytest
from core_harness import Harness, error_of, fn_tool, user_text
from events import only, types

from openrealtime.session.config import Capabilities


def updated(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert types(events) == ["session.updated"], events
    session: dict[str, Any] = events[0]["session"]
    return session


# --- session.created ---------------------------------------------------------------------------


def test_session_created_is_the_only_first_event() -> None:
    h = Harness()
    assert types(h.created) == ["session.created"]
    assert h.effects() == []


def test_session_created_carries_a_full_realtime_session() -> None:
    s = Harness(model="gpt-realtime-mini", now=1000.0).created[0]["session"]
    assert s["type"] == "realtime"
    assert s["object"] == "realtime.session"
    assert s["id"].startswith("sess_")
    assert s["model"] == "gpt-realtime-mini"
    assert s["expires_at"] == 1000 + 3600
    assert s["tools"] == [] and s["tool_choice"] == "auto"
    assert s["max_output_tokens"] == "inf"
    assert s["tracing"] is None and s["include"] is None
    assert s["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert s["audio"]["input"]["transcription"] is None
    assert s["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert s["audio"]["output"]["voice"] == "marin"


def test_text_only_server_defaults_to_text_output() -> None:
    assert Harness().created[0]["session"]["output_modalities"] == ["text"]


def test_audio_capable_server_defaults_to_audio_output() -> None:
    h = Harness(caps=Capabilities(audio_output=True))
    assert h.created[0]["session"]["output_modalities"] == ["audio"]


def test_session_ids_differ_between_sessions() -> None:
    a, b = Harness(), Harness()
    assert a.created[0]["session"]["id"] != b.created[0]["session"]["id"]


# --- session.update: merge rules ---------------------------------------------------------------


def test_update_answers_with_the_full_effective_session() -> None:
    h = Harness()
    before = h.config()
    s = updated(h.update({"type": "realtime", "instructions": "Be brief."}))
    assert s == {**before, "instructions": "Be brief."}
    assert h.config() == s


def test_update_does_not_echo_the_client_event_id() -> None:
    h = Harness()
    ev = h.update({"type": "realtime"}, event_id="client_1")[0]
    assert ev["event_id"] != "client_1"


def test_audio_output_on_a_text_only_server_stays_text() -> None:
    h = Harness()
    s = updated(h.update({"type": "realtime", "output_modalities": ["audio"]}))
    assert s["output_modalities"] == ["text"]


def test_output_modalities_update_on_an_audio_server() -> None:
    h = Harness(caps=Capabilities(audio_output=True))
    s = updated(h.update({"type": "realtime", "output_modalities": ["text"]}))
    assert s["output_modalities"] == ["text"]


def test_update_with_only_type_changes_nothing() -> None:
    h = Harness()
    before = h.config()
    assert updated(h.update({"type": "realtime"})) == before


def test_update_changes_only_present_fields() -> None:
    h = Harness()
    h.update({"type": "realtime", "instructions": "A", "tools": [fn_tool("f")]})
    s = updated(h.update({"type": "realtime", "max_output_tokens": 300}))
    assert s["instructions"] == "A"
    assert [t["name"] for t in s["tools"]] == ["f"]
    assert s["max_output_tokens"] == 300


def test_update_audio_merges_key_by_key() -> None:
    h = Harness()
    h.update({"type": "realtime", "audio": {"output": {"voice": "cedar"}}})
    pcmu = {"input": {"format": {"type": "audio/pcmu"}}}
    s = updated(h.update({"type": "realtime", "audio": pcmu}))
    assert s["audio"]["output"]["voice"] == "cedar"
    assert s["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert s["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert s["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}


def test_empty_instructions_clear_them() -> None:
    h = Harness()
    h.update({"type": "realtime", "instructions": "Be brief."})
    assert updated(h.update({"type": "realtime", "instructions": ""}))["instructions"] == ""


def test_empty_tools_clear_them() -> None:
    h = Harness()
    h.update({"type": "realtime", "tools": [fn_tool("a"), fn_tool("b")]})
    assert updated(h.update({"type": "realtime", "tools": []}))["tools"] == []


def test_null_turn_detection_turns_it_off() -> None:
    h = Harness()
    s = updated(h.update({"type": "realtime", "audio": {"input": {"turn_detection": None}}}))
    assert s["audio"]["input"]["turn_detection"] is None
    # ...and the rest of audio.input is kept.
    assert s["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}


def test_null_transcription_turns_it_off() -> None:
    h = Harness()
    on = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
    assert updated(h.update(on))["audio"]["input"]["transcription"]["model"] == "whisper-1"
    off = {"type": "realtime", "audio": {"input": {"transcription": None}}}
    assert updated(h.update(off))["audio"]["input"]["transcription"] is None


def test_null_tracing_clears_it() -> None:
    h = Harness()
    assert updated(h.update({"type": "realtime", "tracing": "auto"}))["tracing"] == "auto"
    assert updated(h.update({"type": "realtime", "tracing": None}))["tracing"] is None


def test_null_noise_reduction_clears_it() -> None:
    h = Harness()
    on = {"type": "realtime", "audio": {"input": {"noise_reduction": {"type": "far_field"}}}}
    assert updated(h.update(on))["audio"]["input"]["noise_reduction"] == {"type": "far_field"}
    off = {"type": "realtime", "audio": {"input": {"noise_reduction": None}}}
    assert updated(h.update(off))["audio"]["input"]["noise_reduction"] is None


def test_transcription_model_names_are_accepted() -> None:
    h = Harness()
    for model in ("gpt-4o-mini-transcribe", "gpt-4o-transcribe", "whisper-1"):
        u = {"type": "realtime",
             "audio": {"input": {"transcription": {"model": model, "language": "en"}}}}
        t = updated(h.update(u))["audio"]["input"]["transcription"]
        assert t["model"] == model and t["language"] == "en"


def test_transcription_without_model_gets_a_default_model() -> None:
    h = Harness()
    u = {"type": "realtime", "audio": {"input": {"transcription": {"language": "de"}}}}
    t = updated(h.update(u))["audio"]["input"]["transcription"]
    assert isinstance(t["model"], str) and t["model"]


def test_semantic_vad_is_accepted_and_filled_with_defaults() -> None:
    h = Harness()
    u = {"type": "realtime",
         "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}}
    td = updated(h.update(u))["audio"]["input"]["turn_detection"]
    assert td["type"] == "semantic_vad"
    assert td["eagerness"] == "high"
    assert td["create_response"] is True and td["interrupt_response"] is True
    assert "threshold" not in td


def test_server_vad_update_replaces_the_object_with_defaults_for_the_rest() -> None:
    h = Harness()
    u = {"type": "realtime",
         "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.8,
                                                "create_response": False}}}}
    td = updated(h.update(u))["audio"]["input"]["turn_detection"]
    assert td["threshold"] == 0.8
    assert td["create_response"] is False
    assert td["interrupt_response"] is True
    assert td["prefix_padding_ms"] == 300


def test_agents_sdk_second_update_with_only_type_tracing_and_model_succeeds() -> None:
    # agents-python sends a full update, then {type, tracing, model} (EVENTS.md §6.1, §8.3).
    h = Harness(model="gpt-realtime")
    first = {
        "type": "realtime", "model": "gpt-realtime", "output_modalities": ["text"],
        "instructions": "You are helpful.",
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000},
                      "transcription": {"model": "gpt-4o-mini-transcribe"},
                      "turn_detection": {"type": "semantic_vad", "interrupt_response": True},
                      "noise_reduction": None},
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "ash",
                       "speed": 1.0},
        },
        "tools": [fn_tool("get_weather")], "tool_choice": "auto",
    }
    s1 = updated(h.update(first))
    s2 = updated(h.update({"type": "realtime", "model": "gpt-realtime", "tracing": None}))
    assert s2 == s1
    s3 = updated(h.update({"type": "realtime", "tracing": {"workflow_name": "w"}}))
    assert s3["tracing"] == {"workflow_name": "w"}
    assert s3["tools"] == s1["tools"]
    assert h.effects() == []


def test_update_resending_the_session_object_it_received_is_accepted() -> None:
    h = Harness()
    echo = h.created[0]["session"]
    assert updated(h.update(echo)) == h.created[0]["session"]


def test_tool_choice_naming_a_known_function_is_accepted() -> None:
    h = Harness()
    s = updated(h.update({"type": "realtime", "tools": [fn_tool("f")],
                          "tool_choice": {"type": "function", "name": "f"}}))
    assert s["tool_choice"] == {"type": "function", "name": "f"}


# --- session.update: refusals --------------------------------------------------------------------


def refused(h: Harness, event: dict[str, Any] | str, **extra: Any) -> dict[str, Any]:
    """Send a refused update; check the session is exactly as before; return the error."""
    before = h.config()
    data = event if isinstance(event, str) else {"type": "session.update", **event, **extra}
    err = error_of(h.send(data))
    assert h.config() == before
    # The refused update left nothing behind: a no-op update shows the old session.
    assert updated(h.update({"type": "realtime"})) == before
    return err


def test_missing_session_type_is_missing_required_parameter() -> None:
    err = refused(Harness(), {"session": {"instructions": "x"}})
    assert err["code"] == "missing_required_parameter"
    assert err["param"] == "session.type"


def test_missing_session_type_echoes_client_event_id() -> None:
    err = refused(Harness(), {"session": {"instructions": "x"}, "event_id": "evt_42"})
    assert err["event_id"] == "evt_42"


def test_transcription_type_on_a_realtime_session_is_refused() -> None:
    err = refused(Harness(), {"session": {"type": "transcription"}}, event_id="e1")
    assert err["param"] == "session.type"
    assert err["event_id"] == "e1"


def test_unknown_session_type_value_is_refused() -> None:
    err = refused(Harness(), {"session": {"type": "translation"}})
    assert err["param"] is not None and err["param"].startswith("session")


def test_unknown_session_field_is_unknown_parameter() -> None:
    err = refused(Harness(), {"session": {"type": "realtime", "instructions": "x",
                                          "modalities": ["text"]}})
    assert err["code"] == "unknown_parameter"
    assert err["param"] == "session.modalities"


def test_unknown_top_level_event_field_is_unknown_parameter() -> None:
    err = refused(Harness(), {"session": {"type": "realtime"}, "bogus": 1})
    assert err["code"] == "unknown_parameter"
    assert err["param"] == "bogus"


@pytest.mark.parametrize("modalities", [["text", "audio"], ["audio", "text"], []])
def test_output_modalities_must_be_exactly_one(modalities: list[str]) -> None:
    err = refused(Harness(), {"session": {"type": "realtime", "output_modalities": modalities}})
    assert err["param"] == "session.output_modalities"


def test_unknown_modality_is_refused() -> None:
    err = refused(Harness(), {"session": {"type": "realtime", "output_modalities": ["video"]}})
    assert err["param"] is not None and err["param"].startswith("session.output_modalities")


def test_mcp_tools_are_refused() -> None:
    mcp = {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.example/"}
    err = refused(Harness(), {"session": {"type": "realtime", "tools": [fn_tool("f"), mcp]}})
    assert err["param"] == "session.tools[1].type"


def test_mcp_tool_choice_is_refused() -> None:
    err = refused(Harness(), {"session": {"type": "realtime",
                                          "tool_choice": {"type": "mcp", "server_label": "x"}}})
    assert err["param"] == "session.tool_choice"


def test_tool_choice_naming_an_unknown_function_is_refused() -> None:
    err = refused(Harness(), {"session": {"type": "realtime", "tools": [fn_tool("f")],
                                          "tool_choice": {"type": "function", "name": "g"}}})
    assert err["param"] == "session.tool_choice.name"


def test_clearing_tools_that_tool_choice_names_is_refused() -> None:
    h = Harness()
    h.update({"type": "realtime", "tools": [fn_tool("f")],
              "tool_choice": {"type": "function", "name": "f"}})
    err = refused(h, {"session": {"type": "realtime", "tools": []}})
    assert err["param"] == "session.tool_choice.name"


def test_duplicate_tool_names_are_refused() -> None:
    err = refused(Harness(), {"session": {"type": "realtime",
                                          "tools": [fn_tool("f"), fn_tool("f")]}})
    assert err["param"] == "session.tools"


def test_refused_update_with_valid_fields_applies_none_of_them() -> None:
    h = Harness()
    refused(h, {"session": {"type": "realtime", "instructions": "new",
                            "audio": {"output": {"voice": "ash"}},
                            "output_modalities": ["text", "audio"]}})


def test_refused_audio_part_of_update_applies_nothing() -> None:
    h = Harness()
    refused(h, {"session": {"type": "realtime", "instructions": "new",
                            "audio": {"input": {"turn_detection": {"type": "server_vad",
                                                                   "threshold": 7}}}}})


def test_max_output_tokens_out_of_range_is_refused() -> None:
    err = refused(Harness(), {"session": {"type": "realtime", "max_output_tokens": 0}})
    assert err["param"] == "session.max_output_tokens"


def test_session_refused_update_does_not_disturb_the_conversation() -> None:
    h = Harness()
    iid = h.add_user("hello")
    refused(h, {"session": {"instructions": "x"}})
    rid, gen = h.start()
    assert [i.id for i in gen.items] == [iid]


# --- decoding failures reach the client as errors ----------------------------------------------


def test_invalid_json_is_an_error_and_the_session_goes_on() -> None:
    h = Harness()
    err = error_of(h.send(b"{not json"))
    assert err["code"] == "invalid_json"
    assert h.add_user()


def test_unknown_event_type_is_invalid_value_on_type() -> None:
    err = error_of(Harness().send({"type": "session.destroy", "event_id": "x9"}))
    assert err["param"] == "type"
    assert err["event_id"] == "x9"


def test_event_without_type_is_invalid_event() -> None:
    err = error_of(Harness().send({"event_id": "x"}))
    assert err["code"] == "invalid_event"


def test_output_audio_buffer_clear_is_refused_on_websocket() -> None:
    h = Harness()
    err = error_of(h.send({"type": "output_audio_buffer.clear", "event_id": "c1"}))
    assert err["event_id"] == "c1"


# --- expiry ------------------------------------------------------------------------------------


def test_expire_cancels_the_running_response_then_says_session_expired() -> None:
    h = Harness()
    h.add_user()
    rid, _ = h.start()
    h.text(rid, "par")
    events = h.expire()
    assert types(events)[-2:] == ["response.done", "error"]
    assert only(events, "response.done")["response"]["status"] == "cancelled"
    assert events[-1]["error"]["code"] == "session_expired"
    assert h.cancelled() == [rid]
    # A closed session ignores further input.
    assert h.create_item(user_text()) == []
    assert h.session.closed
