"""The scripted engine's rules: reading a rules file and checking every key of it up front.

A rules file is what a user writes by hand, often in a hurry, for CI. So nothing in it is
trusted to be right: the file is checked completely when the server starts, and the first
problem found is reported as one line, ``FILE:LINE: KEY: PROBLEM``, that says what to write
instead. The format itself is described in ``scripted.py`` and ``examples/scripted-rules.yaml``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeAlias

from .loading import EngineLoadError

if TYPE_CHECKING:
    import yaml

ANY_TOOL = "*"
RULE_KEYS = ("match", "contains", "after", "reply", "call", "arguments", "calls")
CALL_KEYS = ("name", "arguments")
TOP_KEYS = ("rules", "default")
# Names a template can always use; a regex group may not shadow them.
TEXT, OUTPUT, TOOL = "text", "output", "tool"
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # what a session accepts as a function name

KeyPath = tuple[str | int, ...]


class RulesError(EngineLoadError):
    """A rules file that cannot be used; the message is one line: file, line, key, problem."""


def _error(source: str, line: int | None, key: KeyPath, problem: str) -> RulesError:
    where = source if line is None else f"{source}:{line}"
    at = f"{_format_path(key)}: " if key else ""
    return RulesError(f"scripted rules {where}: {at}{problem}")


@dataclass(frozen=True, slots=True)
class Template:
    """A string with ``{name}`` fields, parsed once: literal text and the field after it."""

    pieces: tuple[tuple[str, str | None], ...]

    def render(self, values: Mapping[str, str]) -> str:
        return "".join(text + (values[field] if field is not None else "")
                       for text, field in self.pieces)


# Function arguments as written, with every string a template.
ArgValue: TypeAlias = "Template | bool | int | float | None | list[ArgValue] | dict[str, ArgValue]"


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: dict[str, ArgValue]


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    pattern: re.Pattern[str] | None
    """``match`` compiled, or ``contains`` as an escaped pattern; ``None``: anything."""
    after: str | None
    """The tool whose output this rule answers (``*``: any); ``None``: a user turn's rule."""
    reply: Template | None
    calls: tuple[Call, ...]


@dataclass(frozen=True, slots=True)
class Script:
    rules: tuple[Rule, ...]
    default: Template | None
    source: str


# --- reading a file ---------------------------------------------------------------------------


def load_rules(path: str | os.PathLike[str]) -> Script:
    """Read and check a YAML rules file; raises ``RulesError``."""
    import yaml

    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise _error(source, None, (), f"cannot read the file ({err})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _refuse_duplicate_keys(node, source, ())
        data = None
        if node is not None:
            loader = yaml.SafeLoader("")
            try:
                data = loader.construct_document(node)
            finally:
                loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        what = "; ".join(p for p in (err.context, err.problem) if p)
        raise _error(source, mark.line + 1 if mark else None, (),
                     f"invalid YAML: {what}") from None
    except yaml.YAMLError as err:
        raise _error(source, None, (), f"invalid YAML: {err}") from None
    return parse_rules(data, source=source, lines=lambda p: _line_of(node, p))


def _refuse_duplicate_keys(node: yaml.Node, source: str, path: KeyPath) -> None:
    # PyYAML keeps the last of two equal keys silently; a rule with two ``reply`` keys is a
    # mistake the author wants to hear about.
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            at = path + (str(key.value),)
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise _error(source, key.start_mark.line + 1, at, "the key appears twice")
                seen.add(key.value)
            _refuse_duplicate_keys(value, source, at)
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _refuse_duplicate_keys(child, source, path + (i,))


def _line_of(root: yaml.Node | None, path: KeyPath) -> int | None:
    """The line of the deepest node on ``path`` (1-based)."""
    import yaml

    node = root
    if node is None:
        return None
    for step in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            child = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            child = node.value[step] if 0 <= step < len(node.value) else None
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


# --- checking the data ------------------------------------------------------------------------


Lines = Callable[[KeyPath], "int | None"]


class _Checker:
    def __init__(self, source: str, lines: Lines | None) -> None:
        self.source = source
        self.lines = lines

    def fail(self, path: KeyPath, problem: str) -> RulesError:
        line = self.lines(path) if self.lines is not None else None
        return _error(self.source, line, path, problem)

    def mapping(self, value: object, path: KeyPath, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping with keys {_names(allowed)}, "
                                  f"got {_kind(value)}")
        for key in value:
            if key not in allowed:
                near = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise self.fail(path + (str(key),), f"unknown key {key!r}{hint}; allowed: "
                                                    f"{_names(allowed)}")
        return value

    def string(self, value: object, path: KeyPath, *, empty: bool = True) -> str:
        if not isinstance(value, str):
            hint = ("; quote it, as YAML reads yes/no/on/off, numbers and dates as such"
                    if isinstance(value, (bool, int, float, date)) else "")
            raise self.fail(path, f"expected a string, got {_kind(value)}{hint}")
        if not empty and not value:
            raise self.fail(path, "must not be empty")
        return value

    def tool_name(self, value: object, path: KeyPath, *, any_ok: bool = False) -> str:
        name = self.string(value, path)
        if not (_TOOL_NAME.fullmatch(name) or (any_ok and name == ANY_TOOL)):
            extra = f", or {ANY_TOOL!r} for any tool" if any_ok else ""
            raise self.fail(path, f"{name!r} is not a function name (1-64 letters, digits, "
                                  f"'_' or '-'{extra})")
        return name

    def template(self, value: object, path: KeyPath, names: tuple[str, ...],
                 hints: Mapping[str, str]) -> Template:
        text = self.string(value, path)
        pieces: list[tuple[str, str | None]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as err:
            raise self.fail(path, f"bad template: {err} (write {{{{ and }}}} for literal "
                                  "braces)") from None
        for literal, field, spec, conversion in parsed:
            if field is None:
                pieces.append((literal, None))
                continue
            if spec or conversion or not field.isidentifier():
                written = field + (f"!{conversion}" if conversion else "") + (
                    f":{spec}" if spec else "")
                raise self.fail(path, f"bad template field {{{written}}}: write a plain {{name}}"
                                      " (and {{ or }} for literal braces)")
            if field not in names:
                why = hints.get(field, "")
                raise self.fail(path, f"{{{field}}} names nothing{why}; this template can use "
                                      f"{_names(names, braces=True)}")
            pieces.append((literal, field))
        return Template(tuple(pieces))

    def arguments(self, value: object, path: KeyPath, names: tuple[str, ...],
                  hints: Mapping[str, str]) -> dict[str, ArgValue]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping of argument names to values, got "
                                  f"{_kind(value)}")
        out = self.argument(value, path, names, hints)
        assert isinstance(out, dict)
        return out

    def argument(self, value: object, path: KeyPath, names: tuple[str, ...],
                 hints: Mapping[str, str]) -> ArgValue:
        if isinstance(value, str):
            return self.template(value, path, names, hints)
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(path, f"{value} is not a JSON number")
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, list):
            return [self.argument(v, path + (i,), names, hints) for i, v in enumerate(value)]
        if isinstance(value, dict):
            out: dict[str, ArgValue] = {}
            for key, v in value.items():
                if not isinstance(key, str):
                    raise self.fail(path, f"argument names must be strings, got {_kind(key)}; "
                                          "quote it")
                out[key] = self.argument(v, path + (key,), names, hints)
            return out
        raise self.fail(path, f"{_kind(value)} is not a JSON value; quote it")


def parse_rules(data: object, *, source: str = "<rules>", lines: Lines | None = None) -> Script:
    """Check rules already read into Python values (a mapping as YAML gives it)."""
    check = _Checker(source, lines)
    if data is None:
        raise check.fail((), "the file is empty; expected a mapping with 'rules' (and "
                             "optionally 'default')")
    top = check.mapping(data, (), TOP_KEYS)
    if "rules" not in top:
        raise check.fail((), "missing key 'rules' (a list of rules)")
    rules = top["rules"]
    if not isinstance(rules, list):
        raise check.fail(("rules",), f"expected a list of rules, got {_kind(rules)}")
    default = None
    if "default" in top:
        default = check.template(top["default"], ("default",), (TEXT,),
                                 {OUTPUT: " outside a rule with 'after'"})
    return Script(tuple(_rule(check, raw, i) for i, raw in enumerate(rules)), default, source)


def _rule(check: _Checker, raw: object, index: int) -> Rule:
    path: KeyPath = ("rules", index)
    rule = check.mapping(raw, path, RULE_KEYS)
    if "match" in rule and "contains" in rule:
        raise check.fail(path, "use 'match' (a regex) or 'contains' (plain text), not both")
    if not any(k in rule for k in ("match", "contains", "after")):
        raise check.fail(path, "a rule needs 'match', 'contains' or 'after' to say when it "
                               "answers")
    if "arguments" in rule and "call" not in rule:
        raise check.fail(path + ("arguments",), "'arguments' goes with 'call' (each entry of "
                                                "'calls' has its own)")
    if not any(k in rule for k in ("reply", "call", "calls")):
        raise check.fail(path, "a rule needs 'reply', 'call' or 'calls' to say what it answers")
    if "call" in rule and "calls" in rule:
        raise check.fail(path, "use 'call' (one call) or 'calls' (a list), not both")

    after = None
    if "after" in rule:
        after = check.tool_name(rule["after"], path + ("after",), any_ok=True)
    pattern: re.Pattern[str] | None = None
    groups: tuple[str, ...] = ()
    if "match" in rule:
        pattern, groups = _pattern(check, rule["match"], path + ("match",))
    elif "contains" in rule:
        needle = check.string(rule["contains"], path + ("contains",), empty=False)
        pattern = re.compile(re.escape(needle), re.IGNORECASE)

    if after is None:
        names = (*groups, TEXT)
        hints = dict.fromkeys((OUTPUT, TOOL), " outside a rule with 'after'")
    else:
        names, hints = (*groups, TEXT, OUTPUT, TOOL), {}
    reply = None
    if "reply" in rule:
        reply = check.template(rule["reply"], path + ("reply",), names, hints)
    calls = _calls(check, rule, path, names, hints)
    return Rule(index, pattern, after, reply, calls)


def _calls(check: _Checker, rule: dict[str, Any], path: KeyPath, names: tuple[str, ...],
           hints: Mapping[str, str]) -> tuple[Call, ...]:
    # Each call as (where its name is, the name, where its arguments are, the arguments).
    found: list[tuple[KeyPath, object, KeyPath, object]] = []
    if "call" in rule:  # ``call`` + ``arguments``: the one-call spelling of ``calls``
        found.append((path + ("call",), rule["call"], path + ("arguments",),
                      rule.get("arguments")))
    elif "calls" in rule:
        listed = rule["calls"]
        if not isinstance(listed, list) or not listed:
            raise check.fail(path + ("calls",), "expected a non-empty list of {name, "
                                                f"arguments}}, got {_kind(listed)}")
        for i, raw in enumerate(listed):
            at = path + ("calls", i)
            entry = check.mapping(raw, at, CALL_KEYS)
            if "name" not in entry:
                raise check.fail(at, "missing key 'name' (the function to call)")
            found.append((at + ("name",), entry["name"], at + ("arguments",),
                          entry.get("arguments")))
    return tuple(
        Call(check.tool_name(name, name_at),
             {} if args is None else check.arguments(args, args_at, names, hints))
        for name_at, name, args_at, args in found)


def _pattern(check: _Checker, value: object,
             path: KeyPath) -> tuple[re.Pattern[str], tuple[str, ...]]:
    text = check.string(value, path, empty=False)
    try:
        pattern = re.compile(text, re.IGNORECASE)
    except re.error as err:
        raise check.fail(path, f"invalid regex: {err}") from None
    groups = tuple(pattern.groupindex)
    for reserved in (TEXT, OUTPUT, TOOL):
        if reserved in groups:
            raise check.fail(path, f"the group name {reserved!r} is reserved (it is set for "
                                   "every template); rename the group")
    return pattern, groups


# --- wording ----------------------------------------------------------------------------------


def _format_path(path: KeyPath) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def _names(names: tuple[str, ...], *, braces: bool = False) -> str:
    return ", ".join(f"{{{n}}}" if braces else n for n in names)


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, date):
        return f"the date {value}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
