"""The scripted LLM engine: which rule answers, what it streams, and what a bad rules file says.

Most tests play the example file users copy (examples/scripted-rules.yaml), so the example is
checked to do what its comments say.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from openrealtime.engines.llm import (
    Chunk,
    FinishChunk,
    LLMRequest,
    TextChunk,
    ToolCallChunk,
    estimate_tokens,
)
from openrealtime.engines.loading import EngineLoadError
from openrealtime.engines.scripted import RulesError, ScriptedLLM
from openrealtime.protocol.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudioPart,
    InputTextPart,
    Item,
    MessageItem,
    OutputTextPart,
)
from openrealtime.protocol.session_types import FunctionTool, ToolChoice, ToolChoiceFunction

EXAMPLE = Path(__file__).parent.parent / "examples" / "scripted-rules.yaml"
ALL_TOOLS = ("get_weather", "book_table", "get_time", "get_date")


# --- building requests and reading streams ----------------------------------------------------


def user(text: str) -> MessageItem:
    return MessageItem(role="user", content=[InputTextPart(text=text)])


def spoken(transcript: str) -> MessageItem:
    return MessageItem(role="user", content=[InputAudioPart(transcript=transcript)])


def assistant(text: str) -> MessageItem:
    return MessageItem(role="assistant", content=[OutputTextPart(text=text)])


def call(name: str, call_id: str, arguments: str = "{}") -> FunctionCallItem:
    return FunctionCallItem(name=name, call_id=call_id, arguments=arguments)


def output(call_id: str, text: str) -> FunctionCallOutputItem:
    return FunctionCallOutputItem(call_id=call_id, output=text)


def request(*items: Item, tools: tuple[str, ...] = ALL_TOOLS, choice: ToolChoice = "auto",
            max_tokens: int | None = None, parallel: bool = True) -> LLMRequest:
    return LLMRequest(model="m", instructions="Be brief.", items=items,
                      tools=tuple(FunctionTool(name=t) for t in tools), tool_choice=choice,
                      max_output_tokens=max_tokens, parallel_tool_calls=parallel)


async def play(llm: ScriptedLLM, req: LLMRequest) -> list[Chunk]:
    chunks = [chunk async for chunk in llm.stream(req)]
    finishes = [c for c in chunks if isinstance(c, FinishChunk)]
    assert finishes == [chunks[-1]], "exactly one FinishChunk, last"
    return chunks


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


def calls_of(chunks: list[Chunk]) -> list[tuple[str, dict[str, Any]]]:
    """Each call's name and parsed arguments, joined from its chunks as a client would."""
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    for c in chunks:
        if isinstance(c, ToolCallChunk):
            if c.name is not None:
                names[c.index] = c.name
            args[c.index] = args.get(c.index, "") + c.arguments
    return [(names[i], json.loads(args[i])) for i in sorted(names)]


def finish(chunks: list[Chunk]) -> FinishChunk:
    last = chunks[-1]
    assert isinstance(last, FinishChunk)
    return last


@pytest.fixture(scope="module")
def example() -> ScriptedLLM:
    return ScriptedLLM.from_file(EXAMPLE)


# --- matching and templates -------------------------------------------------------------------


async def test_a_matching_rule_calls_its_tool_with_arguments_from_the_regex(
        example: ScriptedLLM) -> None:
    chunks = await play(example, request(user("What's the WEATHER in Paris?")))

    assert text_of(chunks) == ""
    assert calls_of(chunks) == [("get_weather", {"city": "Paris"})]
    tool_chunks = [c for c in chunks if isinstance(c, ToolCallChunk)]
    first, rest = tool_chunks[0], tool_chunks[1:]
    assert first.index == 0 and first.name == "get_weather"
    assert first.call_id is not None and re.fullmatch(r"call_[A-Za-z0-9]{16}", first.call_id)
    assert all(c.name is None and c.call_id is None and c.index == 0 for c in rest)
    args = "".join(c.arguments for c in tool_chunks)
    done = finish(chunks)
    assert done.reason == "tool_calls"
    assert done.output_tokens == estimate_tokens("get_weather" + args)
    assert done.input_tokens == estimate_tokens("Be brief.") + estimate_tokens(
        "What's the WEATHER in Paris?")


async def test_each_call_gets_a_fresh_id(example: ScriptedLLM) -> None:
    req = request(user("weather in Oslo"))
    ids = {c.call_id for _ in range(3) for c in await play(example, req)
           if isinstance(c, ToolCallChunk) and c.call_id}
    assert len(ids) == 3


async def test_the_turn_after_a_tool_output_is_answered_by_its_after_rule(
        example: ScriptedLLM) -> None:
    req = request(user("weather in Paris"), call("get_weather", "c1", '{"city":"Paris"}'),
                  output("c1", "Sunny, 21 C"))
    chunks = await play(example, req)

    assert text_of(chunks) == "Here is the weather: Sunny, 21 C"
    assert [c.text for c in chunks if isinstance(c, TextChunk)][:2] == ["Here ", "is "]
    assert calls_of(chunks) == []
    assert finish(chunks).reason == "stop"
    assert finish(chunks).output_tokens == estimate_tokens("Here is the weather: Sunny, 21 C")


async def test_a_tool_turn_never_replays_the_rule_that_called_the_tool() -> None:
    llm = ScriptedLLM({"rules": [{"match": "weather", "call": "get_weather"}]})
    req = request(user("weather please"), call("get_weather", "c1"), output("c1", "Rain"))
    chunks = await play(llm, req)

    assert calls_of(chunks) == []
    assert text_of(chunks) == "No scripted rule answers after get_weather."


async def test_after_rules_do_not_answer_user_turns() -> None:
    llm = ScriptedLLM({"rules": [{"after": "*", "reply": "tool done"}],
                       "default": "fallback for {text}"})
    chunks = await play(llm, request(user("hello")))
    assert text_of(chunks) == "fallback for hello"


async def test_an_after_rule_can_match_the_output_and_name_the_tool(
        example: ScriptedLLM) -> None:
    failed = request(user("what time is it"), call("get_time", "t1"),
                     output("t1", "ERROR: clock unavailable"))
    fine = request(user("what time is it"), call("get_time", "t1"), output("t1", "12:00"))

    assert text_of(await play(example, failed)) == (
        "Sorry, get_time failed: ERROR: clock unavailable")
    assert text_of(await play(example, fine)) == "Done."


async def test_after_rules_read_the_latest_output_of_their_tool() -> None:
    llm = ScriptedLLM({"rules": [{"after": "get_date", "reply": "{tool}: {output}"}]})
    req = request(user("time and date"), call("get_time", "a"), call("get_date", "b"),
                  output("a", "noon"), output("b", "Monday"))
    assert text_of(await play(llm, req)) == "get_date: Monday"


async def test_outputs_before_a_later_message_do_not_make_a_tool_turn(
        example: ScriptedLLM) -> None:
    req = request(user("weather in Rome"), call("get_weather", "c1"), output("c1", "Hot"),
                  assistant("It is hot."), user("hello there"))
    assert text_of(await play(example, req)) == "Hello! How can I help?"


async def test_text_comes_before_the_call_in_one_response(example: ScriptedLLM) -> None:
    chunks = await play(example, request(user("Please book a table for 4")))

    kinds = [type(c).__name__ for c in chunks]
    assert kinds.index("ToolCallChunk") > max(i for i, k in enumerate(kinds) if k == "TextChunk")
    assert text_of(chunks) == "One moment, I'm booking it."
    assert calls_of(chunks) == [("book_table", {"people": "4", "confirm": True})]
    assert finish(chunks).reason == "tool_calls"


async def test_several_calls_have_their_own_indexes_and_ids(example: ScriptedLLM) -> None:
    chunks = await play(example, request(user("the time and date, please")))

    assert calls_of(chunks) == [("get_time", {}), ("get_date", {})]
    firsts = [c for c in chunks if isinstance(c, ToolCallChunk) and c.name]
    assert [c.index for c in firsts] == [0, 1]
    assert firsts[0].call_id != firsts[1].call_id


async def test_contains_and_match_are_case_insensitive_and_the_first_rule_wins() -> None:
    llm = ScriptedLLM({"rules": [{"contains": "Cancel ORDER", "reply": "first"},
                                 {"match": "cancel", "reply": "second"}]})
    assert text_of(await play(llm, request(user("please cancel order 7")))) == "first"
    assert text_of(await play(llm, request(user("CANCEL it")))) == "second"
    # contains is plain text: regex characters mean themselves.
    dots = ScriptedLLM({"rules": [{"contains": "a.b", "reply": "dots"}], "default": "none"})
    assert text_of(await play(dots, request(user("axb")))) == "none"
    assert text_of(await play(dots, request(user("a.b")))) == "dots"


async def test_the_transcript_of_spoken_input_is_matched(example: ScriptedLLM) -> None:
    chunks = await play(example, request(spoken("hey, what's the weather in new york")))
    assert calls_of(chunks) == [("get_weather", {"city": "new york"})]


async def test_templates_fill_groups_text_and_escape_into_json() -> None:
    llm = ScriptedLLM({"rules": [{
        "match": r'note (?P<body>.+?)(?: tagged (?P<tag>\w+))?$',
        "reply": "Noting {body} [{tag}] from {{{text}}}",
        "call": "note",
        "arguments": {"body": "{body}", "tags": ["{tag}", "fixed"], "n": 3, "raw": None},
    }]})
    chunks = await play(llm, request(user('note say "hi"\\now'), tools=("note",)))

    assert text_of(chunks) == 'Noting say "hi"\\now [] from {note say "hi"\\now}'
    assert calls_of(chunks) == [("note", {"body": 'say "hi"\\now', "tags": ["", "fixed"],
                                          "n": 3, "raw": None})]


async def test_without_a_default_the_fallback_names_what_was_not_matched(
        example: ScriptedLLM) -> None:
    bare = ScriptedLLM({"rules": []})
    assert text_of(await play(bare, request(user("sing a song")))) == (
        "No scripted rule matches 'sing a song'.")
    assert text_of(await play(bare, request())) == "No scripted rule matches an empty message."
    assert text_of(await play(example, request(user("sing a song")))) == (
        "Sorry, I have no rule for that.")


# --- tools and tool_choice --------------------------------------------------------------------

TOOLS_OR_TEXT = {"rules": [
    {"match": "weather", "call": "get_weather", "arguments": {"city": "Oslo"}},
    {"match": "weather", "reply": "I cannot look that up."},
    {"match": "weather", "call": "get_time"},
]}


@pytest.mark.parametrize(("choice", "tools", "expected_text", "expected_calls"), [
    ("auto", ("get_weather",), "", [("get_weather", {"city": "Oslo"})]),
    # Not offered: the rule is skipped, the next answers.
    ("auto", (), "I cannot look that up.", []),
    ("none", ("get_weather", "get_time"), "I cannot look that up.", []),
    # Required: rules without calls are skipped.
    ("required", ("get_time",), "", [("get_time", {})]),
    (ToolChoiceFunction(name="get_time"), ("get_weather", "get_time"), "", [("get_time", {})]),
    # Required, but no rule can call: the default, since a script cannot invent a call.
    ("required", (), "No scripted rule matches 'weather?'.", []),
])
async def test_tool_choice_and_the_declared_tools_decide_which_rules_may_answer(
        choice: ToolChoice, tools: tuple[str, ...], expected_text: str,
        expected_calls: list[tuple[str, dict[str, Any]]]) -> None:
    llm = ScriptedLLM(TOOLS_OR_TEXT)
    chunks = await play(llm, request(user("weather?"), tools=tools, choice=choice))
    assert text_of(chunks) == expected_text
    assert calls_of(chunks) == expected_calls
    assert finish(chunks).reason == ("tool_calls" if expected_calls else "stop")


async def test_several_calls_are_not_made_when_parallel_calls_are_off(
        example: ScriptedLLM) -> None:
    chunks = await play(example, request(user("time and date"), parallel=False))
    assert calls_of(chunks) == []
    assert text_of(chunks) == "Sorry, I have no rule for that."


# --- max_output_tokens ------------------------------------------------------------------------


async def test_a_reply_longer_than_max_output_tokens_is_cut_with_length(
        example: ScriptedLLM) -> None:
    full = "Goodbye, and thank you for calling."
    chunks = await play(example, request(user("goodbye"), max_tokens=3))

    assert text_of(chunks) == full[:12]
    assert len([c for c in chunks if isinstance(c, TextChunk)]) == 2  # "Goodbye, " "and"
    assert finish(chunks).reason == "length"
    assert finish(chunks).output_tokens == 3
    whole = await play(example, request(user("goodbye"), max_tokens=estimate_tokens(full)))
    assert text_of(whole) == full and finish(whole).reason == "stop"


async def test_calls_that_do_not_fit_in_max_output_tokens_are_not_made(
        example: ScriptedLLM) -> None:
    chunks = await play(example, request(user("book a table for 2"), max_tokens=10))

    assert text_of(chunks) == "One moment, I'm booking it."
    assert calls_of(chunks) == []
    assert finish(chunks).reason == "length"
    assert finish(chunks).output_tokens == estimate_tokens("One moment, I'm booking it.")


# --- bad rules --------------------------------------------------------------------------------


def test_rules_given_as_a_mapping_are_checked_too() -> None:
    with pytest.raises(RulesError, match=r"^scripted rules <rules>: rules\[0\].reply: "):
        ScriptedLLM({"rules": [{"match": "x", "reply": 5}]})


BAD_FILES = [
    # (file text, line, key path, problem) -- line None: the error names no line
    ("rules:\n  - match: [unclosed\n", 3, "", "invalid YAML"),
    ("", None, "", "the file is empty"),
    ("- match: x\n  reply: y\n", 1, "", "expected a mapping with keys rules, default, got a list"),
    ("default: hi\n", 1, "", "missing key 'rules'"),
    ("rules: []\nfallback: hi\n", 2, "fallback", "unknown key 'fallback'; allowed: rules, default"),
    ("rules:\n  match: x\n", 2, "rules", "expected a list of rules, got a mapping"),
    ("rules:\n  - match: x\n    repl: y\n", 3, "rules[0].repl",
     "unknown key 'repl' (did you mean 'reply'?); allowed: match, contains, after, reply"),
    ("rules:\n  - match: x\n    reply: a\n    reply: b\n", 4, "rules[0].reply",
     "the key appears twice"),
    ("rules:\n  - reply: hi\n", 2, "rules[0]", "needs 'match', 'contains' or 'after'"),
    ("rules:\n  - match: hi\n", 2, "rules[0]", "needs 'reply', 'call' or 'calls'"),
    ("rules:\n  - match: x\n    contains: y\n    reply: z\n", 2, "rules[0]", "not both"),
    ("rules:\n  - match: hi\n    reply: ok\n  - match: 'weather (in'\n    reply: ok\n", 4,
     "rules[1].match", "invalid regex: missing ), unterminated subpattern"),
    ("rules:\n  - match: ''\n    reply: ok\n", 2, "rules[0].match", "must not be empty"),
    ("rules:\n  - match: '(?P<text>.+)'\n    reply: ok\n", 2, "rules[0].match",
     "the group name 'text' is reserved"),
    ("rules:\n  - match: 'in (?P<city>\\w+)'\n    call: get_weather\n"
     "    arguments:\n      city: '{town}'\n", 5, "rules[0].arguments.city",
     "{town} names nothing; this template can use {city}, {text}"),
    ("rules:\n  - match: x\n    reply: 'got {output}'\n", 3, "rules[0].reply",
     "{output} names nothing outside a rule with 'after'"),
    ("rules:\n  - match: x\n    reply: 'a { b'\n", 3, "rules[0].reply", "bad template"),
    ("rules:\n  - match: '(?P<c>x)'\n    reply: '{c!r}'\n", 3, "rules[0].reply",
     "bad template field {c!r}: write a plain {name}"),
    ("rules:\n  - match: x\n    reply: '{0}'\n", 3, "rules[0].reply", "bad template field {0}"),
    ("rules:\n  - match: x\n    reply: yes\n", 3, "rules[0].reply",
     "expected a string, got the boolean True; quote it"),
    ("rules:\n  - match: x\n    arguments: {a: 1}\n", 3, "rules[0].arguments",
     "'arguments' goes with 'call'"),
    ("rules:\n  - match: x\n    call: a\n    calls: [{name: b}]\n", 2, "rules[0]",
     "use 'call' (one call) or 'calls' (a list), not both"),
    ("rules:\n  - match: x\n    call: get weather\n", 3, "rules[0].call",
     "'get weather' is not a function name"),
    ("rules:\n  - after: 'get.weather'\n    reply: x\n", 2, "rules[0].after",
     "or '*' for any tool"),
    ("rules:\n  - match: x\n    call: f\n    arguments: [1, 2]\n", 4, "rules[0].arguments",
     "expected a mapping of argument names to values, got a list"),
    ("rules:\n  - match: x\n    call: f\n    arguments:\n      when: 2024-05-01\n", 5,
     "rules[0].arguments.when", "the date 2024-05-01 is not a JSON value; quote it"),
    ("rules:\n  - match: x\n    calls: []\n", 3, "rules[0].calls",
     "expected a non-empty list of {name, arguments}, got an empty list"),
    ("rules:\n  - match: x\n    calls:\n      - arguments: {}\n", 4, "rules[0].calls[0]",
     "missing key 'name'"),
    ("rules:\n  - match: x\n    calls:\n      - name: f\n        args: {}\n", 5,
     "rules[0].calls[0].args", "unknown key 'args' (did you mean 'arguments'?)"),
    ("rules:\n  - match: x\n    call: f\n    arguments: {n: .nan}\n", 4,
     "rules[0].arguments.n", "nan is not a JSON number"),
    ("rules: []\ndefault: 'no {output}'\n", 2, "default", "{output} names nothing"),
]


@pytest.mark.parametrize(("text", "line", "key", "problem"), BAD_FILES,
                         ids=[case[3][:40] for case in BAD_FILES])
def test_a_bad_rules_file_is_named_with_its_line_key_and_problem(
        tmp_path: Path, text: str, line: int | None, key: str, problem: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RulesError) as caught:
        ScriptedLLM.from_file(path)

    message = str(caught.value)
    assert isinstance(caught.value, EngineLoadError)
    assert "\n" not in message
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert message.startswith(f"scripted rules {where}"), message
    if key:
        assert f": {key}: " in message, message
    assert problem in message, message


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RulesError, match=rf"^scripted rules {re.escape(str(missing))}: "
                                         r"cannot read the file \(.*No such file"):
        ScriptedLLM.from_file(missing)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"rules: [\xff\xfe]\n")
    with pytest.raises(RulesError, match=r"cannot read the file \(.*utf-8"):
        ScriptedLLM.from_file(binary)
