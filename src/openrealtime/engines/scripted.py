"""``scripted``: an LLM engine that answers from rules you write, for testing voice apps in CI.

It makes openrealtime a deterministic Realtime server: the same conversation always gets the
same reply and the same tool calls, with no model and no network. The rules live in a YAML
file (``examples/scripted-rules.yaml`` is a commented one to copy)::

    rules:                                    # tried in order; the first that matches answers
      - match: "weather in (?P<city>[a-z ]+)" # a regex, case-insensitive, searched in the
        call: get_weather                     #   user's last message (text or transcript)
        arguments: {city: "{city}"}           # strings are templates: {group} from the regex
      - after: get_weather                    # answers the turn right after that tool's output
        reply: "The weather: {output}"
      - contains: "hello"                     # plain text instead of a regex
        reply: "Hello! How can I help?"
    default: "Sorry, I have no rule for that."

When a rule answers
  ``match`` (a regex) or ``contains`` (plain text) looks at the user's last message, both
  case-insensitive. ``after: TOOL`` answers only the turn that follows that tool's output
  (``after: "*"``: any tool's), and with it ``match``/``contains`` look at the tool's output
  instead. The two kinds never mix: a turn that follows a tool output is answered by an
  ``after`` rule or by the default, so a rule that calls a tool cannot call it again forever.

What it answers
  ``reply`` is text, streamed word by word. ``call`` + ``arguments`` is one function call;
  ``calls: [{name, arguments}, ...]`` several. A rule may have text and calls: the text comes
  first, as a real model says "Let me check" before calling.

Templates
  ``{name}`` in a reply or in an argument's string is a named group of the rule's ``match``;
  ``{text}`` is the user's last message; in ``after`` rules, ``{output}`` is the tool's output
  and ``{tool}`` its name. Write ``{{`` and ``}}`` for literal braces. Argument values that are
  not strings (numbers, booleans, lists) are sent as written.

Tools and tool_choice
  A rule is played as written or not at all: it is skipped (and the next one is tried) when
  one of its calls names a function the response does not offer, when tool_choice is "none",
  when tool_choice names another function, or when it makes several calls and
  parallel_tool_calls is false. With tool_choice "required" or naming a function, rules that
  make no call are skipped too. When no rule answers, the ``default`` reply is said (without
  one, a built-in line naming what was not matched), even if a call was required: a script
  cannot invent arguments.

max_output_tokens counts about four characters a token (``estimate_tokens``): a longer reply
is cut there and the response ends "incomplete"; calls that do not fit are not made. The engine
keeps no state, so one instance serves every session of the server.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import string
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..protocol.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudioPart,
    InputTextPart,
    MessageItem,
    OutputAudioPart,
    OutputTextPart,
)
from ..protocol.session_types import ToolChoiceFunction
from .echo import last_user_text
from .llm import Chunk, FinishChunk, LLMRequest, TextChunk, ToolCallChunk, estimate_tokens
from .scripted_rules import (
    ANY_TOOL,
    OUTPUT,
    TEXT,
    TOOL,
    ArgValue,
    Rule,
    RulesError,
    Script,
    Template,
    load_rules,
    parse_rules,
)

__all__ = ["Answer", "RulesError", "ScriptedLLM"]

log = logging.getLogger(__name__)

# Every character belongs to one chunk, so the streamed text is exactly the reply.
_WORDS = re.compile(r"\s*\S+\s*|\s+")
_ARGUMENT_PIECE = 16  # characters per arguments delta: clients must join pieces, as for a model
_ID_CHARS = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Answer:
    """What the script says to one request: text, then calls as ``(name, arguments JSON)``."""

    text: str
    calls: tuple[tuple[str, str], ...]
    rule: int | None
    """The index of the rule that answered; ``None``: the default or the built-in fallback."""


@dataclass(frozen=True, slots=True)
class _Turn:
    text: str
    outputs: tuple[tuple[str, str], ...]
    """``(tool name, output)`` of the tool outputs that end the conversation, latest last;
    empty when the turn is the user's."""


class ScriptedLLM:
    name = "scripted"

    def __init__(self, rules: Script | Mapping[str, Any]) -> None:
        """``rules``: a checked ``Script``, or the rules as a mapping (what the YAML holds)."""
        self.script = rules if isinstance(rules, Script) else parse_rules(rules)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ScriptedLLM:
        """Read a YAML rules file; a bad one raises ``RulesError`` naming file, line and key."""
        return cls(load_rules(path))

    def answer(self, request: LLMRequest) -> Answer:
        turn = _read_turn(request)
        for rule in self.script.rules:
            values = _matches(rule, turn)
            if values is None:
                continue
            if not _playable(rule, request):
                log.debug("scripted: rule %d matches but its calls are not allowed here",
                          rule.index)
                continue
            text = rule.reply.render(values) if rule.reply is not None else ""
            calls = tuple((c.name, json.dumps(_render(c.arguments, values), ensure_ascii=False,
                                              separators=(",", ":")))
                          for c in rule.calls)
            return Answer(text, calls, rule.index)
        return Answer(self._fallback(turn), (), None)

    def _fallback(self, turn: _Turn) -> str:
        if self.script.default is not None:
            return self.script.default.render({TEXT: turn.text})
        if turn.outputs:
            tool = turn.outputs[-1][0] or "a tool"
            log.info("scripted: no rule answers after %s", tool)
            return f"No scripted rule answers after {tool}."
        log.info("scripted: no rule matches %r", turn.text)
        return f"No scripted rule matches {turn.text!r}." if turn.text else (
            "No scripted rule matches an empty message.")

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        answer = self.answer(request)
        prompt = _prompt_tokens(request)
        limit = request.max_output_tokens
        text = answer.text
        if limit is not None and estimate_tokens(text) > limit:
            # Cut where the budget ends, mid-word if need be, as a model's tokens would.
            text = text[:limit * 4]
            for word in _WORDS.findall(text):
                yield TextChunk(word)
            yield FinishChunk("length", prompt, estimate_tokens(text))
            return
        for word in _WORDS.findall(text):
            yield TextChunk(word)
        used = estimate_tokens(text)
        calls_cost = sum(estimate_tokens(name + args) for name, args in answer.calls)
        if answer.calls and limit is not None and used + calls_cost > limit:
            yield FinishChunk("length", prompt, used)
            return
        for index, (name, args) in enumerate(answer.calls):
            pieces = [args[i:i + _ARGUMENT_PIECE] for i in range(0, len(args), _ARGUMENT_PIECE)]
            yield ToolCallChunk(index, pieces[0], name=name, call_id=_call_id())
            for piece in pieces[1:]:
                yield ToolCallChunk(index, piece)
        yield FinishChunk("tool_calls" if answer.calls else "stop", prompt, used + calls_cost)

    async def aclose(self) -> None:
        return None


def _read_turn(request: LLMRequest) -> _Turn:
    """The user's last message, and the tool outputs after the last message, if any."""
    names = {item.call_id: item.name for item in request.items
             if isinstance(item, FunctionCallItem) and isinstance(item.call_id, str)}
    outputs: list[tuple[str, str]] = []
    for item in reversed(request.items):
        if isinstance(item, MessageItem):
            break
        if isinstance(item, FunctionCallOutputItem):
            outputs.append((names.get(item.call_id, ""), item.output))
    return _Turn(last_user_text(request), tuple(reversed(outputs)))


def _matches(rule: Rule, turn: _Turn) -> dict[str, str] | None:
    """The template values if ``rule`` answers ``turn``, else ``None``."""
    if not turn.outputs:
        if rule.after is not None:
            return None
        return _search(rule.pattern, turn.text, {TEXT: turn.text})
    if rule.after is None:
        return None
    for tool, output in reversed(turn.outputs):
        if rule.after in (ANY_TOOL, tool):
            values = _search(rule.pattern, output,
                             {TEXT: turn.text, OUTPUT: output, TOOL: tool})
            if values is not None:
                return values
    return None


def _search(pattern: re.Pattern[str] | None, text: str,
            values: dict[str, str]) -> dict[str, str] | None:
    if pattern is None:
        return values
    found = pattern.search(text)
    if found is None:
        return None
    # A group that took no part in the match fills its field with nothing.
    return {**{k: v or "" for k, v in found.groupdict().items()}, **values}


def _playable(rule: Rule, request: LLMRequest) -> bool:
    choice = request.tool_choice
    names = [call.name for call in rule.calls]
    if choice == "required" and not names:
        return False
    if isinstance(choice, ToolChoiceFunction):
        if not names or any(name != choice.name for name in names):
            return False
    if names and choice == "none":
        return False
    if len(names) > 1 and not request.parallel_tool_calls:
        return False
    offered = {tool.name for tool in request.tools}
    return all(name in offered for name in names)


def _render(value: ArgValue, values: Mapping[str, str]) -> Any:
    if isinstance(value, Template):
        return value.render(values)
    if isinstance(value, list):
        return [_render(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, values) for k, v in value.items()}
    return value


def _call_id() -> str:
    return "call_" + "".join(secrets.choice(_ID_CHARS) for _ in range(16))


def _prompt_tokens(request: LLMRequest) -> int:
    """What a model would have read: the instructions and every item's text."""
    texts = [request.instructions]
    for item in request.items:
        if isinstance(item, MessageItem):
            for part in item.content:
                if isinstance(part, (InputTextPart, OutputTextPart)):
                    texts.append(part.text)
                elif isinstance(part, (InputAudioPart, OutputAudioPart)) and part.transcript:
                    texts.append(part.transcript)
        elif isinstance(item, FunctionCallItem):
            texts.append(item.name + item.arguments)
        else:
            texts.append(item.output)
    return sum(estimate_tokens(t) for t in texts)
