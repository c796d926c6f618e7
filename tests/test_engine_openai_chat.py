"""``OpenAIChatLLM`` against the fixture Chat Completions backend, and the item -> message
conversion it sends."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import msgspec
import pytest
from llm_backend import PROMPT_TOKENS, LLMBackend, fragments

from openrealtime.engines.chat_messages import to_messages, to_tool_choice, to_tools
from openrealtime.engines.llm import (
    Chunk,
    FinishChunk,
    LLMError,
    LLMRequest,
    TextChunk,
    ToolCallChunk,
    estimate_tokens,
)
from openrealtime.engines.openai_chat import OpenAIChatLLM
from openrealtime.protocol.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudioPart,
    InputImagePart,
    InputTextPart,
    Item,
    MessageItem,
    OutputAudioPart,
    OutputTextPart,
)
from openrealtime.protocol.session_types import FunctionTool, ToolChoice, ToolChoiceFunction

TIMEOUT = 5.0
WEATHER = FunctionTool(name="get_weather", description="Weather in a city.",
                       parameters={"type": "object",
                                   "properties": {"city": {"type": "string"}}})


def user(text: str) -> MessageItem:
    return MessageItem(role="user", content=[InputTextPart(text=text)])


def request(text: str, *, instructions: str = "", max_output_tokens: int | None = None,
            tools: tuple[FunctionTool, ...] = (), tool_choice: ToolChoice = "auto",
            parallel_tool_calls: bool = True,
            items: tuple[Item, ...] | None = None) -> LLMRequest:
    return LLMRequest(model="gpt-realtime", instructions=instructions,
                      items=items if items is not None else (user(text),),
                      tools=tools, tool_choice=tool_choice,
                      max_output_tokens=max_output_tokens,
                      parallel_tool_calls=parallel_tool_calls)


@pytest.fixture
async def llm(backend: LLMBackend) -> AsyncIterator[OpenAIChatLLM]:
    engine = OpenAIChatLLM(backend.url + "/v1", model="test-model", api_key="backend-key")
    try:
        yield engine
    finally:
        await engine.aclose()


async def collect(llm: OpenAIChatLLM, req: LLMRequest) -> list[Chunk]:
    async with asyncio.timeout(TIMEOUT):
        return [chunk async for chunk in llm.stream(req)]


async def failure(llm: OpenAIChatLLM, req: LLMRequest) -> tuple[list[Chunk], LLMError]:
    got: list[Chunk] = []
    with pytest.raises(LLMError) as info:
        async with asyncio.timeout(TIMEOUT):
            async for chunk in llm.stream(req):
                got.append(chunk)
    return got, info.value


# --- streaming ------------------------------------------------------------------------------


async def test_streams_text_word_by_word_with_backend_usage(
        llm: OpenAIChatLLM, backend: LLMBackend) -> None:
    chunks = await collect(llm, request("say: hello big world"))
    assert chunks == [TextChunk("hello "), TextChunk("big "), TextChunk("world"),
                      FinishChunk("stop", PROMPT_TOKENS, 3)]
    assert backend.usage_sent == [{"prompt_tokens": PROMPT_TOKENS, "completion_tokens": 3,
                                   "total_tokens": PROMPT_TOKENS + 3}]


async def test_request_body_and_headers(llm: OpenAIChatLLM, backend: LLMBackend) -> None:
    await collect(llm, request("say: hi", instructions="Be brief.", max_output_tokens=50,
                               tools=(WEATHER,),
                               tool_choice=ToolChoiceFunction(name="get_weather"),
                               parallel_tool_calls=False))
    body = backend.last
    assert body["model"] == "test-model"  # the configured model wins over the session's
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "say: hi"}]
    assert body["max_tokens"] == 50
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city.",
        "parameters": WEATHER.parameters}}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    assert backend.headers[-1]["Authorization"] == "Bearer backend-key"


async def test_session_model_used_without_configured_model(backend: LLMBackend) -> None:
    engine = OpenAIChatLLM(backend.url + "/v1/")
    try:
        await collect(engine, request("say: hi"))
    finally:
        await engine.aclose()
    assert backend.last["model"] == "gpt-realtime"
    assert "Authorization" not in backend.headers[-1]
    for key in ("max_tokens", "tools", "tool_choice", "parallel_tool_calls"):
        assert key not in backend.last


async def test_tool_call_chunks_carry_name_and_id_first(
        llm: OpenAIChatLLM, backend: LLMBackend) -> None:
    args = '{"city":"Paris"}'
    chunks = await collect(llm, request(f"call: get_weather {args}", tools=(WEATHER,)))
    calls = [c for c in chunks if isinstance(c, ToolCallChunk)]
    assert len(calls) > 1  # the arguments came in fragments
    assert calls[0].name == "get_weather" and calls[0].call_id == "call_w1"
    assert all(c.name is None and c.call_id is None for c in calls[1:])
    assert {c.index for c in calls} == {0}
    assert "".join(c.arguments for c in calls) == args
    assert chunks[-1] == FinishChunk("tool_calls", PROMPT_TOKENS, len(fragments(args)))
    assert backend.last["tool_choice"] == "auto"


async def test_two_parallel_tool_calls(llm: OpenAIChatLLM) -> None:
    chunks = await collect(llm, request("two calls", tools=(WEATHER,)))
    calls = [c for c in chunks if isinstance(c, ToolCallChunk)]
    firsts = [c for c in calls if c.name is not None]
    assert [(c.index, c.name, c.call_id) for c in firsts] == [
        (0, "get_weather", "call_p1"), (1, "get_weather", "call_p2")]
    for index, city in ((0, "Paris"), (1, "Tokyo")):
        args = "".join(c.arguments for c in calls if c.index == index)
        assert json.loads(args) == {"city": city}
    assert isinstance(chunks[-1], FinishChunk) and chunks[-1].reason == "tool_calls"


async def test_usage_estimated_when_backend_sends_none(
        llm: OpenAIChatLLM, backend: LLMBackend) -> None:
    req = request("no usage")
    chunks = await collect(llm, req)
    text = "".join(c.text for c in chunks if isinstance(c, TextChunk))
    assert text == "Usage is unknown here."
    assert backend.usage_sent == []
    payload = msgspec.json.encode(llm.body(req)).decode()
    assert chunks[-1] == FinishChunk("stop", estimate_tokens(payload), (len(text) + 3) // 4)


async def test_max_tokens_stops_with_length(llm: OpenAIChatLLM, backend: LLMBackend) -> None:
    chunks = await collect(llm, request("say: one two three four five", max_output_tokens=2))
    assert chunks == [TextChunk("one "), TextChunk("two "),
                      FinishChunk("length", PROMPT_TOKENS, 2)]
    assert backend.last["max_tokens"] == 2


async def test_tool_call_cut_by_max_tokens_finishes_length(llm: OpenAIChatLLM) -> None:
    chunks = await collect(llm, request('call: get_weather {"city":"Paris"}',
                                        tools=(WEATHER,), max_output_tokens=1))
    assert isinstance(chunks[-1], FinishChunk) and chunks[-1].reason == "length"


# --- failures -------------------------------------------------------------------------------


async def test_retries_500_before_the_first_chunk(llm: OpenAIChatLLM,
                                                  backend: LLMBackend) -> None:
    chunks = await collect(llm, request("fail 500 once"))
    assert "".join(c.text for c in chunks if isinstance(c, TextChunk)) == (
        "Recovered after a retry.")
    assert backend.attempts("fail 500 once") == 2


async def test_gives_up_after_three_attempts_on_500(llm: OpenAIChatLLM,
                                                    backend: LLMBackend) -> None:
    got, err = await failure(llm, request("fail 500"))
    assert got == []
    assert err.code == "llm_http_error" and err.retryable
    assert "500" in err.message
    assert backend.attempts("fail 500") == 3


async def test_no_retry_on_400(llm: OpenAIChatLLM, backend: LLMBackend) -> None:
    got, err = await failure(llm, request("fail 400"))
    assert got == []
    assert err.code == "llm_http_error" and not err.retryable
    assert "400" in err.message and "fail 400 asked for it" in err.message
    assert backend.attempts("fail 400") == 1


async def test_unreachable_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from openrealtime.engines import openai_chat

    monkeypatch.setattr(openai_chat, "RETRY_DELAYS", (0.0, 0.0))
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = OpenAIChatLLM(f"http://127.0.0.1:{port}/v1")
    try:
        got, err = await failure(engine, request("say: hi"))
    finally:
        await engine.aclose()
    assert got == [] and err.code == "llm_unreachable" and err.retryable


async def test_malformed_stream_is_not_retried_after_output(
        llm: OpenAIChatLLM, backend: LLMBackend) -> None:
    got, err = await failure(llm, request("malformed"))
    assert got == [TextChunk("Partial ")]
    assert err.code == "llm_malformed_stream"
    assert backend.attempts("malformed") == 1


async def test_stream_ending_unfinished_is_malformed(llm: OpenAIChatLLM) -> None:
    got, err = await failure(llm, request("cut"))
    assert got == [TextChunk("Partial ")]
    assert err.code == "llm_malformed_stream"


async def test_error_chunk_mid_stream(llm: OpenAIChatLLM) -> None:
    got, err = await failure(llm, request("stream error"))
    assert got == [TextChunk("Partial ")]
    assert err.code == "llm_http_error" and "The model crashed." in err.message


async def test_read_timeout_after_first_chunk(backend: LLMBackend) -> None:
    engine = OpenAIChatLLM(backend.url + "/v1", read_timeout=0.2)
    try:
        got, err = await failure(engine, request("hang"))
    finally:
        await engine.aclose()
    assert got == [TextChunk("Partial ")]
    assert err.code == "llm_timeout"
    assert backend.attempts("hang") == 1
    async with asyncio.timeout(TIMEOUT):
        await backend.disconnected.wait()


async def test_cancelling_the_consumer_closes_the_backend_stream(
        llm: OpenAIChatLLM, backend: LLMBackend) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async for _chunk in llm.stream(request("hang")):
            first.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(TIMEOUT):
        await first.wait()
        await backend.hanging.wait()
    assert not backend.disconnected.is_set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(TIMEOUT):
        await backend.disconnected.wait()
    # The pooled client still works afterwards.
    chunks = await collect(llm, request("say: still here"))
    assert [c for c in chunks if isinstance(c, TextChunk)] == [TextChunk("still "),
                                                              TextChunk("here")]


async def test_aclose_is_idempotent(backend: LLMBackend) -> None:
    engine = OpenAIChatLLM(backend.url + "/v1")
    await engine.aclose()  # never used
    await collect(engine, request("say: x"))
    await engine.aclose()
    await engine.aclose()


# --- items -> chat messages -----------------------------------------------------------------


def call(call_id: str, args: str = '{"city":"Paris"}', name: str = "get_weather"
         ) -> FunctionCallItem:
    return FunctionCallItem(id=f"i_{call_id}", name=name, call_id=call_id, arguments=args)


def output(call_id: str, text: str = "sunny") -> FunctionCallOutputItem:
    return FunctionCallOutputItem(id=f"o_{call_id}", call_id=call_id, output=text)


def assistant(text: str) -> MessageItem:
    return MessageItem(role="assistant", content=[OutputTextPart(text=text)])


def tool_call(call_id: str, args: str = '{"city":"Paris"}') -> dict[str, object]:
    return {"id": call_id, "type": "function",
            "function": {"name": "get_weather", "arguments": args}}


def test_instructions_become_the_system_message() -> None:
    assert to_messages("Be kind.", (user("hi"),)) == [
        {"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}]
    assert to_messages("", (user("hi"),)) == [{"role": "user", "content": "hi"}]


def test_text_parts_join_and_roles_carry_over() -> None:
    items = (
        MessageItem(role="system", content=[InputTextPart(text="Rule one.")]),
        MessageItem(role="user", content=[InputTextPart(text="a"), InputTextPart(text="b")]),
        assistant("c"),
    )
    assert to_messages("", items) == [
        {"role": "system", "content": "Rule one."},
        {"role": "user", "content": "a\nb"},
        {"role": "assistant", "content": "c"},
    ]


def test_audio_goes_in_through_its_transcript() -> None:
    items = (
        MessageItem(role="user", content=[InputAudioPart(audio="AAAA", transcript="hello")]),
        MessageItem(role="user", content=[InputAudioPart(audio="AAAA", transcript=None)]),
        MessageItem(role="assistant", content=[OutputAudioPart(transcript="hi there")]),
    )
    assert to_messages("", items) == [{"role": "user", "content": "hello"},
                                      {"role": "assistant", "content": "hi there"}]


def test_images_make_a_parts_list() -> None:
    item = MessageItem(role="user", content=[
        InputTextPart(text="What is this?"),
        InputImagePart(image_url="data:image/png;base64,AAAA", detail="low"),
        InputImagePart(image_url="https://example.com/x.png"),
    ])
    assert to_messages("", (item,)) == [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA",
                                            "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
    ]}]


def test_tool_round_trip() -> None:
    items = (user("weather?"), call("c1"), output("c1", "sunny"))
    assert to_messages("", items) == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [tool_call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]


def test_calls_attach_to_the_preceding_assistant_text() -> None:
    items = (user("go"), assistant("Let me check."), call("c1"), call("c2", "{}"),
             output("c1", "a"), output("c2", "b"))
    assert to_messages("", items) == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "Let me check.",
         "tool_calls": [tool_call("c1"), tool_call("c2", "{}")]},
        {"role": "tool", "tool_call_id": "c1", "content": "a"},
        {"role": "tool", "tool_call_id": "c2", "content": "b"},
    ]


def test_sequential_calls_stay_separate_turns() -> None:
    items = (user("go"), call("c1"), output("c1", "a"), call("c2"), output("c2", "b"))
    assert to_messages("", items) == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [tool_call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "a"},
        {"role": "assistant", "content": None, "tool_calls": [tool_call("c2")]},
        {"role": "tool", "tool_call_id": "c2", "content": "b"},
    ]


def test_empty_arguments_become_an_empty_object() -> None:
    messages = to_messages("", (call("c1", ""), output("c1")))
    assert messages[0]["tool_calls"][0]["function"]["arguments"] == "{}"


def test_unanswered_calls_are_left_out() -> None:
    # Chat backends refuse an assistant tool call with no tool message after it.
    items = (user("weather?"), call("c1"), user("never mind, tell a joke"))
    assert to_messages("", items) == [{"role": "user", "content": "weather?"},
                                      {"role": "user", "content": "never mind, tell a joke"}]
    assert to_messages("", (assistant("Checking."), call("c1"))) == [
        {"role": "assistant", "content": "Checking."}]


def test_results_follow_their_call_wherever_they_were_inserted() -> None:
    # An output created after a later user message still answers its call right away;
    # an output whose call was deleted has nothing to answer and is left out.
    items = (user("weather?"), call("c1"), user("and?"), output("c1", "sunny"),
             output("gone", "orphan"))
    assert to_messages("", items) == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [tool_call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "user", "content": "and?"},
    ]


def test_tools_and_tool_choice() -> None:
    bare = FunctionTool(name="ping")
    assert to_tools((WEATHER, bare)) == [
        {"type": "function", "function": {"name": "get_weather",
                                          "description": "Weather in a city.",
                                          "parameters": WEATHER.parameters}},
        {"type": "function", "function": {"name": "ping",
                                          "parameters": {"type": "object", "properties": {}}}},
    ]
    for choice in ("auto", "none", "required"):
        assert to_tool_choice(choice) == choice  # type: ignore[arg-type]
    assert to_tool_choice(ToolChoiceFunction(name="ping")) == {
        "type": "function", "function": {"name": "ping"}}
