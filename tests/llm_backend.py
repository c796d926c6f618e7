"""A deterministic OpenAI-compatible Chat Completions server: a test fixture, not an engine.

It streams SSE the way OpenAI does (``choices[0].delta.content`` / ``delta.tool_calls``,
``finish_reason``, a usage chunk when ``stream_options.include_usage``, then ``data: [DONE]``).
What it does is chosen from the last message:

=================================  ==========================================================
last message                       behaviour
=================================  ==========================================================
``say: X``                         streams X word by word
``call: NAME {json}``              one tool call, arguments in several fragments
``two calls``                      two parallel ``get_weather`` calls (Paris, Tokyo)
``fail 500`` / ``fail 500 once``   HTTP 500 every time / on the first attempt only
``fail 400``                       HTTP 400 (OpenAI's error shape)
``malformed``                      one good chunk, then invalid JSON
``cut``                            one good chunk, then the stream ends unfinished
``stream error``                   one good chunk, then an ``{"error": …}`` chunk
``hang``                           one chunk, then waits until the client disconnects
``no usage``                       streams a reply with no usage chunk
a ``tool`` message                 ``Tool said: <outputs>``
anything else                      ``You said: <text>``
=================================  ==========================================================

``max_tokens`` is honoured: after that many chunks the stream stops with ``finish_reason``
``"length"``. Messages are checked the way OpenAI checks them (a ``tool`` message must answer
a preceding assistant ``tool_calls`` id); a bad sequence gets HTTP 400 and is recorded in
``invalid``. Every request body is kept in ``requests`` (failed attempts included).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback_server import LoopbackServer

PROMPT_TOKENS = 17  # what the usage chunk reports for the prompt, whatever it was


@dataclass
class Reply:
    """What one request should stream: text pieces and/or tool calls."""

    pieces: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, list[str]]] = field(default_factory=list)  # id, name, fragments
    usage: bool = True
    trailer: str | None = None  # "malformed", "cut", "stream error", "hang"


class LLMBackend(LoopbackServer):
    path = "/v1/chat/completions"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.invalid: list[str] = []
        self.usage_sent: list[dict[str, int]] = []
        self._failed_once: set[str] = set()

    # --- what tests look at ---------------------------------------------------------------

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    def attempts(self, text: str) -> int:
        """How many requests had ``text`` as their last user message."""
        return sum(1 for body in self.requests if _last_user_text(body) == text)

    # --- the endpoint ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        problem = _check(body)
        if problem:
            self.invalid.append(problem)
            return _error(400, problem)
        text = _last_user_text(body)
        if text == "fail 500" or (text == "fail 500 once" and text not in self._failed_once):
            self._failed_once.add(text)
            return _error(500, "The server had an error while processing your request.")
        if text == "fail 400":
            return _error(400, "Invalid request: fail 400 asked for it.")
        reply = _plan(body)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        try:
            async for data in self._stream(body, reply):
                await resp.write(b"data: " + data + b"\n\n")
        except asyncio.CancelledError:
            self.disconnected.set()
            raise
        await resp.write_eof()
        return resp

    async def _stream(self, body: dict[str, Any], reply: Reply) -> AsyncIterator[bytes]:
        cid = f"chatcmpl-{len(self.requests)}"
        model = body.get("model", "test-model")
        limit = body.get("max_tokens") or body.get("max_completion_tokens")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return json.dumps({
                "id": cid, "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}],
            }).encode()

        yield chunk({"role": "assistant", "content": ""})
        sent = 0
        finish = "tool_calls" if reply.calls else "stop"
        # Each piece of text or arguments counts as one token against ``max_tokens``.
        for piece in reply.pieces:
            if limit is not None and sent >= limit:
                finish = "length"
                break
            yield chunk({"content": piece})
            sent += 1
        for index, (call_id, name, fragments) in enumerate(reply.calls):
            if finish == "length":
                break
            yield chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                         "function": {"name": name, "arguments": ""}}]})
            for fragment in fragments:
                if limit is not None and sent >= limit:
                    finish = "length"
                    break
                yield chunk({"tool_calls": [{"index": index,
                                             "function": {"arguments": fragment}}]})
                sent += 1
        if reply.trailer == "malformed":
            yield b'{"id": "broken", "choices": [{"delta": {"content": "x"'
            return
        if reply.trailer == "cut":
            return
        if reply.trailer == "stream error":
            yield json.dumps({"error": {"message": "The model crashed.", "type": "server_error",
                                        "code": None}}).encode()
            return
        if reply.trailer == "hang":
            await self._hang()
            return
        yield chunk({}, finish)
        if reply.usage and (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": sent,
                     "total_tokens": PROMPT_TOKENS + sent}
            self.usage_sent.append(usage)
            yield json.dumps({"id": cid, "object": "chat.completion.chunk", "created": 0,
                              "model": model, "choices": [], "usage": usage}).encode()
        yield b"[DONE]"


# --- choosing the reply ---------------------------------------------------------------------

_WORDS = re.compile(r"\S+\s*")
_CALL = re.compile(r"call: (\w+) (.*)", re.S)


def words(text: str) -> list[str]:
    """How ``say:`` splits its text into chunks: each word with its trailing space."""
    return _WORDS.findall(text)


def fragments(arguments: str, size: int = 5) -> list[str]:
    """How tool-call arguments are split into streamed fragments."""
    return [arguments[i:i + size] for i in range(0, len(arguments), size)] or [""]


def _plan(body: dict[str, Any]) -> Reply:
    messages = body["messages"]
    last = messages[-1] if messages else {"role": "user", "content": ""}
    if last["role"] == "tool":
        outputs = []
        for message in reversed(messages):
            if message["role"] != "tool":
                break
            outputs.insert(0, message["content"])
        return Reply(words("Tool said: " + " ".join(outputs)))
    text = _last_user_text(body) or ""
    if text.startswith("say: "):
        return Reply(words(text[5:]))
    if match := _CALL.fullmatch(text):
        return Reply(calls=[("call_w1", match[1], fragments(match[2]))])
    if text == "two calls":
        return Reply(calls=[("call_p1", "get_weather", fragments('{"city":"Paris"}')),
                            ("call_p2", "get_weather", fragments('{"city":"Tokyo"}'))])
    if text == "no usage":
        return Reply(words("Usage is unknown here."), usage=False)
    if text in ("malformed", "cut", "stream error", "hang"):
        return Reply(["Partial "], trailer=text)
    if text == "fail 500 once":
        return Reply(words("Recovered after a retry."))
    return Reply(words(f"You said: {text}"))


def _last_user_text(body: dict[str, Any]) -> str | None:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
            return content if isinstance(content, str) else None
    return None


def _check(body: dict[str, Any]) -> str | None:
    """Refuse what OpenAI refuses about the message sequence."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    if body.get("stream") is not True:
        return "this backend only streams"
    pending: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            return f"messages[{i}].role is invalid: {role!r}"
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                return (f"messages[{i}]: messages with role 'tool' must be a response to a "
                        "preceding message with 'tool_calls'")
            pending.discard(message["tool_call_id"])
            continue
        if pending:
            return f"messages[{i}]: tool_call_ids did not have response messages: {pending}"
        if role == "assistant":
            for call in message.get("tool_calls") or ():
                if not json_ok(call["function"]["arguments"]):
                    return f"messages[{i}]: tool call arguments are not JSON"
                pending.add(call["id"])
            if message.get("content") is None and not message.get("tool_calls"):
                return f"messages[{i}]: assistant message with neither content nor tool_calls"
        elif message.get("content") is None:
            return f"messages[{i}].content is required"
    if "tool_choice" in body and "tools" not in body:
        return "'tool_choice' is only allowed when 'tools' are specified"
    return None


def json_ok(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error" if status < 500
                   else "server_error", "param": None, "code": None}},
        status=status)
