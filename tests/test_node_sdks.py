"""End to end with OpenAI's official Node SDKs, from the npm registry at the versions pinned in
tests/node/package-lock.json: the ``openai`` package's ``OpenAIRealtimeWS`` (over wss://, with
the test CA trusted through NODE_EXTRA_CA_CERTS), the same package's legacy beta client, and
``@openai/agents-realtime``'s ``RealtimeSession`` over its WebSocket transport and over WebRTC
(``POST /v1/realtime/calls``; RTCPeerConnection from ``@roamhq/wrtc``, libwebrtc for node).

Each test starts a real server in front of the fixture LLM and runs one script from
tests/node as a subprocess; the script prints one JSON record per line. Every server event a
script saw is checked here too, against openai-python's models (GA or beta).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import check_server_frame, run_server, server_settings
from events import types
from llm_backend import LLMBackend
from tls_certs import Certs, make_certs

NODE_DIR = Path(__file__).parent / "node"
SCRIPT_TIMEOUT = 20.0  # seconds for one script, node's start-up included
INSTALL_TIMEOUT = 180.0

Record = dict[str, Any]


# --- node and the pinned packages -----------------------------------------------------------


def _installed_matches_pins() -> bool:
    """Whether node_modules holds exactly the versions package.json pins (a stale install from
    an older lock file would test the wrong SDKs)."""
    pins = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    for name, version in pins.items():
        manifest = NODE_DIR / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text())["version"] != version:
            return False
    return True


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with tests/node's packages installed (``npm ci``, once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not on PATH: the Node SDK tests need Node.js 20+")
    version = subprocess.run([node, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        pytest.skip(f"node {version} is too old for the Node SDK tests (20+ needed)")
    if not _installed_matches_pins():
        # All of it: agents-core imports its "optional" MCP dependency unconditionally.
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        assert proc.returncode == 0, f"npm ci in {NODE_DIR} failed:\n{proc.stderr}"
    return node


@functools.cache
def _beta_event_adapter() -> Any:
    from openai.types.beta.realtime import RealtimeServerEvent
    from pydantic import TypeAdapter

    return TypeAdapter(RealtimeServerEvent)


def check_beta_frame(raw: str) -> None:
    """A beta server event, checked against openai-python's (frozen) beta models."""
    _beta_event_adapter().validate_json(raw)


async def run_script(node: str, script: str, *args: str,
                     check: Callable[[str], object] = check_server_frame,
                     **env: str) -> list[Record]:
    """Run one client script; return its records, failing with its output if it failed. Every
    server event it recorded goes through ``check``."""
    proc = await asyncio.create_subprocess_exec(
        node, script, *args, cwd=NODE_DIR, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(SCRIPT_TIMEOUT):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        pytest.fail(f"{script} {' '.join(args)} ran past {SCRIPT_TIMEOUT} s\n"
                    f"{out.decode()}\n{err.decode()}")
    records = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert proc.returncode == 0, f"{script} {' '.join(args)} exited {proc.returncode}:\n" \
        f"{out.decode()}\n{err.decode()}"
    for record in records:
        if record["kind"] == "event":
            check(json.dumps(record["event"]))
    return records


def by_step(records: list[Record]) -> dict[str, list[Record]]:
    """Server events grouped under the step marker that preceded them."""
    steps: dict[str, list[Record]] = {}
    current = ""
    for record in records:
        if record["kind"] == "step":
            current = record["name"]
            steps[current] = []
        elif record["kind"] == "event":
            steps[current].append(record["event"])
    return steps



def reply_text(events: list[Record]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


def kinds(records: list[Record], kind: str) -> list[Record]:
    return [r for r in records if r["kind"] == kind]


TEXT_RESPONSE = [  # what follows response.created in a text reply, before its deltas
    "response.output_item.added", "conversation.item.added", "response.content_part.added"]
TEXT_RESPONSE_END = [  # what follows its last delta
    "response.output_text.done", "response.content_part.done", "response.output_item.done",
    "conversation.item.done", "response.done"]


def assert_text_turn(events: list[Record], text: str) -> Record:
    """A user message then its text reply, in the documented order; returns response.done."""
    n = len(text.split())
    assert types(events) == [
        "conversation.item.added", "conversation.item.done", "response.created",
        *TEXT_RESPONSE, *["response.output_text.delta"] * n, *TEXT_RESPONSE_END], types(events)
    assert reply_text(events) == text
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"] == [{"type": "output_text", "text": text}]
    return events[-1]


# --- openai: OpenAIRealtimeWS over wss:// ---------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("node-tls"))


async def openai_ws(node: str, backend: LLMBackend, certs: Certs, scenario: str,
                    check: Callable[[str], object] = check_server_frame) -> list[Record]:
    settings = server_settings(backend, ssl_certfile=str(certs.cert), ssl_keyfile=str(certs.key))
    async with run_server(settings) as port:
        records = await run_script(
            node, "openai_ws.mjs", scenario, check=check, NODE_EXTRA_CA_CERTS=str(certs.ca),
            OPENREALTIME_BASE_URL=f"https://localhost:{port}/v1")
    [url] = kinds(records, "url")
    assert url["url"] == f"wss://localhost:{port}/v1/realtime?model=gpt-realtime"
    assert kinds(records, "sdk_error") == []
    return records


async def test_openai_ws_session_update_and_a_text_turn(
        node: str, backend: LLMBackend, certs: Certs) -> None:
    steps = by_step(await openai_ws(node, backend, certs, "text"))
    assert types(steps["connect"]) == ["session.created"]
    [updated] = steps["session.update"]
    assert updated["type"] == "session.updated"
    assert updated["session"]["instructions"] == "Be brief."
    assert updated["session"]["output_modalities"] == ["text"]
    assert_text_turn(steps["turn"], "hello from node")
    assert steps["close"] == []
    assert backend.last["messages"] == [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "say: hello from node"}]


async def test_openai_ws_function_call_round_trip(
        node: str, backend: LLMBackend, certs: Certs) -> None:
    steps = by_step(await openai_ws(node, backend, certs, "tool"))
    [updated] = steps["session.update"]
    assert [t["name"] for t in updated["session"]["tools"]] == ["get_weather"]

    call = steps["call"]
    assert "response.function_call_arguments.done" in types(call)
    args_done = next(e for e in call if e["type"] == "response.function_call_arguments.done")
    assert args_done["arguments"] == '{"city":"Paris"}' and args_done["name"] == "get_weather"
    done = call[-1]["response"]
    assert done["status"] == "completed"
    assert [(i["type"], i["call_id"]) for i in done["output"]] == [("function_call", "call_w1")]

    output = steps["output"]
    assert types(output[:2]) == ["conversation.item.added", "conversation.item.done"]
    assert output[0]["item"]["type"] == "function_call_output"
    assert reply_text(output) == "Tool said: sunny in Paris"
    assert output[-1]["type"] == "response.done"
    assert output[-1]["response"]["status"] == "completed"
    assert backend.invalid == []
    assert backend.last["messages"][-1] == {"role": "tool", "tool_call_id": "call_w1",
                                            "content": "sunny in Paris"}


async def test_openai_ws_response_cancel(node: str, backend: LLMBackend, certs: Certs) -> None:
    steps = by_step(await openai_ws(node, backend, certs, "cancel"))
    rid = next(e for e in steps["start"] if e["type"] == "response.created")["response"]["id"]
    assert types(steps["cancel"]) == TEXT_RESPONSE_END
    done = steps["cancel"][-1]["response"]
    assert (done["id"], done["status"]) == (rid, "cancelled")
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert steps["cancel"][0]["text"] == "Partial "
    assert_text_turn(steps["after"], "still here")


async def test_openai_beta_ws_speaks_the_beta_dialect(
        node: str, backend: LLMBackend, certs: Certs) -> None:
    # openai-node still ships its beta client (openai/beta/realtime/ws, `OpenAI-Beta:
    # realtime=v1`) in v6 and v7: a legacy Node app gets beta events on the same URL.
    steps = by_step(await openai_ws(node, backend, certs, "beta", check=check_beta_frame))
    [created] = steps["connect"]
    assert created["type"] == "session.created" and "type" not in created["session"]
    [updated] = steps["session.update"]
    assert updated["type"] == "session.updated"
    assert (updated["session"]["modalities"], updated["session"]["instructions"]) == (
        ["text"], "Be brief.")
    turn = steps["turn"]
    assert types(turn) == [
        "conversation.item.created", "response.created", "response.output_item.added",
        "conversation.item.created", "response.content_part.added",
        *["response.text.delta"] * 3, "response.text.done", "response.content_part.done",
        "response.output_item.done", "response.done"]
    assert "".join(e["delta"] for e in turn if e["type"] == "response.text.delta") == \
        "hello from beta"
    assert turn[-1]["response"]["output"][0]["content"] == [
        {"type": "text", "text": "hello from beta"}]


# --- @openai/agents-realtime: RealtimeSession over WebSocket and over WebRTC ---------------


@pytest.fixture(params=["websocket", "webrtc"])
def transport(request: pytest.FixtureRequest) -> str:
    if request.param == "webrtc":
        pytest.importorskip("aiortc")  # the server's side of WebRTC calls
    return str(request.param)


async def agents(node: str, backend: LLMBackend, transport: str, scenario: str) -> list[Record]:
    async with run_server(server_settings(backend)) as port:
        url = (f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime" if transport == "websocket"
               else f"http://127.0.0.1:{port}/v1/realtime/calls")
        records = await run_script(node, "agents.mjs", transport, scenario, OPENREALTIME_URL=url)
    assert kinds(records, "session_error") == []
    # The SDK would drop a server event its schema refuses without an error: none may be.
    assert [r for r in kinds(records, "event") if not r["valid"]] == []
    # Its connect-time session.update (semantic VAD, a transcription model, PCM formats, the
    # agent's tools) is accepted as it is.
    updated = [r["event"] for r in kinds(records, "event")
               if r["event"]["type"] == "session.updated"][-1]["session"]
    assert updated["instructions"] == "Be brief."
    assert updated["output_modalities"] == ["text"]
    assert [t["name"] for t in updated["tools"]] == ["get_weather"]
    if transport == "webrtc":
        [connected] = [r for r in kinds(records, "step") if r["name"] == "connected"]
        assert connected["callId"].startswith("rtc_")  # from the answer's Location
    return records


async def test_agents_realtime_session_text_message(
        node: str, backend: LLMBackend, transport: str) -> None:
    records = await agents(node, backend, transport, "text")
    assert [r["output"] for r in kinds(records, "agent_end")] == ["hello from the agent"]
    [history] = kinds(records, "history")
    assert [(i["role"], i["content"]) for i in history["history"]] == [
        ("user", [{"type": "input_text", "text": "say: hello from the agent"}]),
        ("assistant", [{"type": "output_text", "text": "hello from the agent"}])]
    assert backend.last["messages"] == [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "say: hello from the agent"}]


async def test_agents_realtime_session_runs_a_tool_and_replies(
        node: str, backend: LLMBackend, transport: str) -> None:
    records = await agents(node, backend, transport, "tool")
    [start] = kinds(records, "agent_tool_start")
    assert (start["tool"], start["arguments"], start["callId"]) == (
        "get_weather", '{"city":"Paris"}', "call_w1")
    assert [(r["tool"], r["result"]) for r in kinds(records, "agent_tool_end")] == [
        ("get_weather", "sunny in Paris")]
    # The SDK sent the tool's output and asked for the follow-up itself.
    sent = [r["event"] for r in kinds(records, "sent")]
    output = next(i for i, e in enumerate(sent) if e["type"] == "conversation.item.create"
                  and e["item"]["type"] == "function_call_output")
    assert sent[output]["item"]["call_id"] == "call_w1"
    assert sent[output + 1]["type"] == "response.create"
    # One response with only the call (no text), then the reply built on the tool's output.
    assert [r["output"] for r in kinds(records, "agent_end")] == [
        "", "Tool said: sunny in Paris"]
    assert backend.invalid == []
    assert backend.last["messages"][-1] == {"role": "tool", "tool_call_id": "call_w1",
                                            "content": "sunny in Paris"}
