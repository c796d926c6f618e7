"""Wire compatibility with Realtime clients that cannot be installed here (EVENTS.md §8).

Each ``seed_clients/<client>.json`` records, from the client's own source (cited in the file),
the handshake it makes, the events it sends (byte for byte where the source fixes them) in its
order, and what its parser demands of our events. A test replays one script of a fixture over a
raw WebSocket against the real server and checks:

* the handshake is accepted and the subprotocol it offers is answered;
* no ``error`` comes back for the client's valid input (a step may name the benign codes the
  client itself ignores);
* the events it waits for arrive, in order, with the fields it reads (``checks``);
* every frame validates against openai-python's models of the client's dialect and against the
  client's own stricter rules (``strict``: serde structs in Rust, pydantic in pipecat, ...).

Script steps: ``{"send": event}``; ``{"append": {"ms", "chunk_ms", "template", "speech"?}}``
streams PCM16 24 kHz (espeak speech, else silence) in the client's own append envelope;
``{"asr": text}`` scripts the next transcript; ``{"wait": type, "order"?, "allow_errors"?,
"text_contains"?, "checks"?}`` reads up to that event. Strings ``"{name}"`` in sent events
are replaced by ids captured from earlier server events (``call_id``, ``function_item_id``,
``assistant_item_id``, ``user_item_id``, ``response_id``).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMEOUT, AudioServer, RunningServer, check_server_frame
from speech import chunks, silence, speech_pcm24k
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

Event = dict[str, Any]
FIXTURES = Path(__file__).parent / "seed_clients"
PLACEHOLDER = re.compile(r"^\{(\w+)\}$")
TEXT_DELTAS = {"response.output_text.delta", "response.output_audio_transcript.delta",
               "response.text.delta", "response.audio_transcript.delta"}
MISSING = object()


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def cases(server: str) -> list[Any]:
    """(fixture, script) pairs whose script runs against the ``server`` fixture of that name."""
    out = []
    for path in sorted(FIXTURES.glob("*.json")):
        fixture = load(path.stem)
        for script, plan in fixture["scripts"].items():
            if plan["server"] != server:
                continue
            # A known server bug, reported and left for the server's owners: strict, so that
            # the fix shows up as an XPASS to remove the mark.
            bug = [pytest.mark.xfail(strict=True, reason=plan["server_bug"])
                   ] if "server_bug" in plan else []
            out.append(pytest.param(path.stem, script, marks=bug,
                                    id=f"{path.stem}-{script}"))
    return out


# --- validation ----------------------------------------------------------------------------


@functools.cache
def _beta_adapter() -> Any:
    from openai.types.beta.realtime import RealtimeServerEvent
    from pydantic import TypeAdapter

    return TypeAdapter(RealtimeServerEvent)


def check_beta_frame(raw: str | bytes) -> Event:
    event = json.loads(raw)
    assert isinstance(event, dict), event
    _beta_adapter().validate_python(event)
    assert isinstance(event.get("event_id"), str) and event["event_id"], event
    return event


def lookup(value: Any, path: str) -> list[Any]:
    """Values at a dotted path; ``name[]`` walks a list. Absent keys give ``MISSING``."""
    found = [value]
    for part in path.split("."):
        many = part.endswith("[]")
        key = part[:-2] if many else part
        nxt: list[Any] = []
        for v in found:
            if v is MISSING or v is None:
                nxt.append(MISSING)
                continue
            got = v.get(key, MISSING) if isinstance(v, dict) else MISSING
            if many and isinstance(got, list):
                nxt.extend(got)
            else:
                nxt.append(got)
        found = nxt
    return found


def targets(event: Event, scope: str) -> list[Any]:
    """What a strict rule applies to: the event, each conversation item in it, or each part."""
    if scope == "item":
        items = [event["item"]] if isinstance(event.get("item"), dict) else []
        response = event.get("response")
        if isinstance(response, dict):
            items += [i for i in response.get("output") or [] if isinstance(i, dict)]
        return items
    if scope == "part":
        parts = [event["part"]] if isinstance(event.get("part"), dict) else []
        for item in targets(event, "item"):
            parts += [p for p in item.get("content") or [] if isinstance(p, dict)]
        return parts
    return [event] if event["type"] == scope else []


def check_strict(event: Event, rules: list[dict[str, Any]]) -> None:
    for rule in rules:
        for target in targets(event, rule["on"]):
            if any(lookup(target, p) != [v] for p, v in rule.get("where", {}).items()):
                continue
            where = f"{event['type']} ({rule['why']})"
            for path in rule.get("present", []):
                assert MISSING not in lookup(target, path), (where, path, target)
            for path in rule.get("non_null", []):
                values = lookup(target, path)
                assert all(v is not MISSING and v is not None for v in values), (
                    where, path, target)
            for path, kind in rule.get("types", {}).items():
                for v in lookup(target, path):
                    if v is not MISSING and v is not None:
                        assert type(v).__name__ == kind, (where, path, v)
            for path, allowed in rule.get("one_of", {}).items():
                for v in lookup(target, path):
                    if v is not MISSING:
                        assert v in allowed, (where, path, v)


# --- the replay ----------------------------------------------------------------------------


@dataclass
class Replay:
    ws: ClientConnection
    fixture: dict[str, Any]
    server: RunningServer
    events: list[Event] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)

    async def recv(self) -> Event:
        async with asyncio.timeout(TIMEOUT):
            raw = await self.ws.recv()
        event = (check_beta_frame(raw) if self.fixture["dialect"] == "beta"
                 else check_server_frame(raw))
        check_strict(event, self.fixture["strict"])
        self.events.append(event)
        self._capture(event)
        return event

    def _capture(self, event: Event) -> None:
        kind = event["type"]
        if kind == "response.function_call_arguments.done":
            self.ids["call_id"] = event["call_id"]
            self.ids["function_item_id"] = event["item_id"]
        elif kind == "response.output_item.added" and event["item"]["type"] == "message":
            self.ids["assistant_item_id"] = event["item"]["id"]
        elif kind == "input_audio_buffer.committed":
            self.ids["user_item_id"] = event["item_id"]
        elif kind == "response.created":
            self.ids["response_id"] = event["response"]["id"]

    def fill(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, str) and (m := PLACEHOLDER.match(value)):
            return self.ids[m.group(1)]
        return value

    async def send(self, event: Event) -> None:
        async with asyncio.timeout(TIMEOUT):
            await self.ws.send(json.dumps(self.fill(event)))

    async def append(self, ms: int, chunk_ms: int, template: Event,
                     speech: str | None = None) -> None:
        pcm = silence(300) + speech_pcm24k(speech) + silence(ms) if speech else silence(ms)
        for piece in chunks(pcm, chunk_ms):
            await self.send({**template, "audio": base64.b64encode(piece).decode()})

    async def wait(self, kind: str, order: Sequence[str] = (), allow_errors: Sequence[str] = (),
                   text_contains: str | None = None, checks: Sequence[list[Any]] = ()) -> None:
        seen: list[Event] = []
        try:
            async with asyncio.timeout(4 * TIMEOUT):
                while not seen or seen[-1]["type"] != kind:
                    seen.append(event := await self.recv())
                    # fail on the first unexpected error rather than at the timeout
                    assert event["type"] != "error" or (
                        event["error"].get("code") in allow_errors), event
        except TimeoutError:
            raise AssertionError(f"no {kind}; got {[e['type'] for e in seen]}: "
                                 f"{seen[-3:]}") from None
        kinds = [e["type"] for e in seen]
        it = iter(kinds)
        assert all(k in it for k in order), (order, kinds)  # a subsequence, in order
        if text_contains is not None:
            text = "".join(e["delta"] for e in seen if e["type"] in TEXT_DELTAS)
            assert text_contains in text, text
        for kind_, path, expected in checks:
            found = [v for e in seen if e["type"] == kind_ for v in lookup(e, path)]
            assert found and all(v == self.fill(expected) for v in found), (kind_, path, found)

    async def run(self, steps: list[dict[str, Any]]) -> None:
        for step in steps:
            if "send" in step:
                await self.send(step["send"])
            elif "append" in step:
                await self.append(**step["append"])
            elif "asr" in step:
                assert isinstance(self.server, AudioServer) and self.server.asr is not None
                self.server.asr.answers.append(step["asr"])
            else:
                args = {k: v for k, v in step.items() if k != "wait"}
                await self.wait(step["wait"], **args)


async def replay(name: str, script: str, server: RunningServer) -> None:
    fixture = load(name)
    plan = fixture["scripts"][script]
    shake = fixture["handshake"]
    headers = {k: v.replace("{api_key}", "k") for k, v in shake["headers"].items()}
    offered = [Subprotocol(p.replace("{api_key}", "k")) for p in shake["subprotocols"]]
    url = f"ws://127.0.0.1:{server.port}{shake['path']}"
    async with asyncio.timeout(TIMEOUT):
        ws = await connect(url, additional_headers=headers, subprotocols=offered or None,
                           max_size=shake.get("max_size", 2**20))
    async with ws:
        assert ws.subprotocol == shake["expect_subprotocol"]
        await Replay(ws, fixture, server).run(plan["steps"])


@pytest.mark.parametrize(("name", "script"), cases("server"))
async def test_text_script(name: str, script: str, server: RunningServer) -> None:
    await replay(name, script, server)


@pytest.mark.parametrize(("name", "script"), cases("audio_server"))
async def test_audio_script(name: str, script: str, audio_server: AudioServer) -> None:
    await replay(name, script, audio_server)


def test_every_fixture_cites_its_source() -> None:
    """A fixture is only worth what its citation is: each names repositories and paths."""
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert len(names) >= 6, names
    for name in names:
        fixture = load(name)
        assert fixture["dialect"] in ("ga", "beta"), name
        assert fixture["sources"] and all(s["repo"] and s["path"] for s in fixture["sources"])
        assert fixture["scripts"], name


def test_strict_rules_catch_what_the_clients_would_reject() -> None:
    """The client rules bite: a function call without ``status`` breaks async-openai's serde
    struct, an MCP item breaks pipecat's ``ConversationItem`` literal."""
    call = {"type": "response.output_item.done", "event_id": "event_1", "response_id": "r",
            "output_index": 0, "item": {"type": "function_call", "id": "i", "name": "f",
                                        "call_id": "c", "arguments": "{}"}}
    with pytest.raises(AssertionError, match="status"):
        check_strict(call, load("async_openai")["strict"])
    check_strict({**call, "item": {**call["item"], "status": "completed"}},
                 load("async_openai")["strict"])
    mcp = {**call, "item": {"type": "mcp_call", "id": "i"}}
    with pytest.raises(AssertionError, match="mcp_call"):
        check_strict(mcp, load("pipecat")["strict"])
