"""LLM engine for any OpenAI-compatible Chat Completions endpoint (vLLM, Ollama, llama.cpp
server, OpenAI), streamed over SSE.

Retries happen only before the first chunk reached the caller, where a retry cannot duplicate
output. Cancelling the consuming task leaves the ``async with`` and closes the HTTP stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from .chat_messages import to_messages, to_tool_choice, to_tools
from .http import PooledClient
from .llm import Chunk, FinishChunk, LLMError, LLMRequest, TextChunk, ToolCallChunk, estimate_tokens

log = logging.getLogger(__name__)

_json = msgspec.json.Decoder()
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls",
           "function_call": "tool_calls", "content_filter": "content_filter"}
RETRY_DELAYS = (0.25, 1.0)


class OpenAIChatLLM:
    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
    ) -> None:
        self.name = "openai-chat"
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._client = PooledClient(api_key=api_key, connect_timeout=connect_timeout,
                                    read_timeout=read_timeout, content_type="application/json")

    async def aclose(self) -> None:
        await self._client.aclose()

    def body(self, req: LLMRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model or req.model,
            "messages": to_messages(req.instructions, req.items),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if req.max_output_tokens is not None:
            body["max_tokens"] = req.max_output_tokens
        if req.tools:
            body["tools"] = to_tools(req.tools)
            body["tool_choice"] = to_tool_choice(req.tool_choice)
            if not req.parallel_tool_calls:
                body["parallel_tool_calls"] = False
        return body

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        payload = msgspec.json.encode(self.body(request))
        started = False
        for attempt in range(len(RETRY_DELAYS) + 1):
            try:
                async for chunk in self._attempt(payload, request):
                    started = True
                    yield chunk
                return
            except LLMError as err:
                if started or not err.retryable or attempt == len(RETRY_DELAYS):
                    raise
                log.warning("LLM request failed (%s), retrying: %s", err.code, err.message)
                await asyncio.sleep(RETRY_DELAYS[attempt])

    async def _attempt(self, payload: bytes, request: LLMRequest) -> AsyncIterator[Chunk]:
        try:
            async with self._client.session().post(self._url, data=payload,
                                                   headers=self._client.headers) as resp:
                if resp.status >= 400:
                    text = (await resp.text())[:300]
                    raise LLMError(
                        "llm_http_error",
                        f"LLM backend answered HTTP {resp.status}: {text}",
                        retryable=resp.status == 429 or resp.status >= 500)
                async for chunk in _parse_sse(resp, payload):
                    yield chunk
        except TimeoutError:
            raise LLMError("llm_timeout", "LLM backend timed out.", retryable=True) from None
        except aiohttp.ClientConnectionError as err:
            raise LLMError("llm_unreachable", f"LLM backend unreachable: {err}",
                           retryable=True) from None
        except aiohttp.ClientError as err:
            raise LLMError("llm_unreachable", f"LLM request failed: {err}",
                           retryable=True) from None


async def _parse_sse(resp: aiohttp.ClientResponse, payload: bytes) -> AsyncIterator[Chunk]:
    """Turn the SSE stream into chunks; exactly one ``FinishChunk`` at the end."""
    finish: str | None = None
    usage: dict[str, Any] | None = None
    out_chars = 0
    calls: dict[int, list[Any]] = {}  # index -> [call_id, name, buffered args, announced]
    async for raw in resp.content:
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue  # comments, event names, keep-alives
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        try:
            obj = _json.decode(data)
        except msgspec.DecodeError:
            raise LLMError("llm_malformed_stream",
                           f"LLM backend sent invalid JSON: {data[:100]!r}") from None
        if not isinstance(obj, dict):
            raise LLMError("llm_malformed_stream", "LLM backend sent a non-object chunk.")
        if "error" in obj:
            raise LLMError("llm_http_error", f"LLM backend error: {str(obj['error'])[:300]}")
        if isinstance(obj.get("usage"), dict):
            usage = obj["usage"]
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices:
            continue
        choice = choices[0]
        if not isinstance(choice, dict):
            raise LLMError("llm_malformed_stream", "LLM backend sent a malformed choice.")
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise LLMError("llm_malformed_stream", "LLM backend sent a malformed delta.")
        content = delta.get("content")
        if isinstance(content, str) and content:
            out_chars += len(content)
            yield TextChunk(content)
        for call in delta.get("tool_calls") or ():
            for chunk in _tool_call(call, calls):
                out_chars += len(chunk.arguments)
                yield chunk
        if choice.get("finish_reason"):
            finish = str(choice["finish_reason"])
    else:
        if finish is None:
            raise LLMError("llm_malformed_stream", "LLM stream ended before it finished.")
    for index, state in calls.items():
        if not state[3]:  # a call whose name never came: announce it anyway, unnamed
            yield ToolCallChunk(index, state[2], name=state[1] or "", call_id=state[0])
    if finish is None and not calls and out_chars == 0 and usage is None:
        raise LLMError("llm_malformed_stream", "LLM stream ended with no output.")
    in_tok = out_tok = None
    if usage is not None:
        in_tok, out_tok = usage.get("prompt_tokens"), usage.get("completion_tokens")
    yield FinishChunk(
        reason=_FINISH.get(finish or "stop", "stop"),  # type: ignore[arg-type]
        input_tokens=in_tok if isinstance(in_tok, int) else estimate_tokens(payload.decode()),
        output_tokens=out_tok if isinstance(out_tok, int) else (out_chars + 3) // 4,
    )


def _tool_call(call: Any, calls: dict[int, list[Any]]) -> list[ToolCallChunk]:
    if not isinstance(call, dict):
        raise LLMError("llm_malformed_stream", "LLM backend sent a malformed tool call.")
    index = call.get("index", len(calls))
    fn = call.get("function") or {}
    if not isinstance(index, int) or not isinstance(fn, dict):
        raise LLMError("llm_malformed_stream", "LLM backend sent a malformed tool call.")
    state = calls.setdefault(index, [None, None, "", False])
    if isinstance(call.get("id"), str) and state[0] is None:
        state[0] = call["id"]
    if state[1] is None and isinstance(fn.get("name"), str) and fn["name"]:
        state[1] = fn["name"]
    args = fn.get("arguments") if isinstance(fn.get("arguments"), str) else ""
    if state[3]:
        return [ToolCallChunk(index, args)] if args else []
    if state[1] is None:
        state[2] += args  # hold the arguments until the name is known
        return []
    state[3] = True
    buffered, state[2] = state[2] + args, ""
    return [ToolCallChunk(index, buffered, name=state[1], call_id=state[0])]
