"""``LlamaCppLLM`` on a tiny GGUF with random weights (built by ``tiny_gguf``): the pipeline
(chunk order, token limits, history, tools, cancellation, errors), never the words."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tiny_gguf import write_tiny_gguf

from openrealtime.engines.llama_cpp_llm import LlamaCppLLM
from openrealtime.engines.llm import (
    Chunk,
    FinishChunk,
    LLMError,
    LLMRequest,
    TextChunk,
    ToolCallChunk,
)
from openrealtime.engines.loading import EngineLoadError
from openrealtime.protocol.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputTextPart,
    Item,
    MessageItem,
    OutputTextPart,
)
from openrealtime.protocol.session_types import FunctionTool, ToolChoice, ToolChoiceFunction

pytestmark = pytest.mark.tiny_models

TIMEOUT = 10.0
WEATHER = FunctionTool(name="get_weather", description="Weather in a city.",
                       parameters={"type": "object",
                                   "properties": {"city": {"type": "string"}},
                                   "required": ["city"]})
UNIT = FunctionTool(name="set_unit", description="Temperature unit.",
                    parameters={"type": "object",
                                "properties": {"unit": {"enum": ["celsius", "fahrenheit"]}},
                                "required": ["unit"]})


def user(text: str) -> MessageItem:
    return MessageItem(role="user", content=[InputTextPart(text=text)])


def request(*items: Item, max_output_tokens: int | None = None,
            tools: tuple[FunctionTool, ...] = (), tool_choice: ToolChoice = "auto") -> LLMRequest:
    return LLMRequest(model="tiny", instructions="Be brief.", items=items or (user("Hi"),),
                      tools=tools, tool_choice=tool_choice, max_output_tokens=max_output_tokens)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("llama_cpp")
    path = tmp_path_factory.mktemp("gguf")
    write_tiny_gguf(path / "tiny.gguf")
    write_tiny_gguf(path / "tiny-stops.gguf", stop_at_once=True)
    return path


@pytest.fixture
async def llm(model_dir: Path) -> AsyncIterator[LlamaCppLLM]:
    engine = LlamaCppLLM(str(model_dir / "tiny.gguf"), n_ctx=1024, n_threads=1)
    try:
        yield engine
    finally:
        await engine.aclose()


async def collect(llm: LlamaCppLLM, req: LLMRequest) -> list[Chunk]:
    async with asyncio.timeout(TIMEOUT):
        return [chunk async for chunk in llm.stream(req)]


def finish(chunks: list[Chunk]) -> FinishChunk:
    """The last chunk, after checking it is the only ``FinishChunk``."""
    assert [type(c) for c in chunks].count(FinishChunk) == 1
    assert isinstance(chunks[-1], FinishChunk)
    return chunks[-1]


async def test_streams_text_then_one_finish_at_the_token_limit(llm: LlamaCppLLM) -> None:
    chunks = await collect(llm, request(max_output_tokens=8))
    end = finish(chunks)
    texts = chunks[:-1]
    assert texts and all(isinstance(c, TextChunk) and c.text for c in texts)
    assert end.reason == "length"
    assert end.output_tokens == 8  # one streamed delta per sampled token
    assert end.input_tokens > 0


async def test_a_model_that_ends_its_answer_finishes_with_stop(model_dir: Path) -> None:
    engine = LlamaCppLLM(str(model_dir / "tiny-stops.gguf"), n_ctx=256)
    try:
        chunks = await collect(engine, request(max_output_tokens=8))
    finally:
        await engine.aclose()
    assert chunks == [FinishChunk(reason="stop", input_tokens=chunks[-1].input_tokens,  # type: ignore[union-attr]
                                  output_tokens=0)]


async def test_history_with_tool_calls_and_outputs_renders(llm: LlamaCppLLM) -> None:
    items: tuple[Item, ...] = (
        user("Weather in Paris?"),
        FunctionCallItem(call_id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
        FunctionCallOutputItem(call_id="call_1", output='{"sky": "clear"}'),
        FunctionCallItem(call_id="call_2", name="get_weather", arguments='{"city": "Oslo"}'),
        MessageItem(role="assistant", content=[OutputTextPart(text="Clear in Paris.")]),
        user("Thanks"),
    )
    chunks = await collect(llm, request(*items, max_output_tokens=4, tools=(WEATHER,)))
    assert finish(chunks).reason == "length"
    assert all(isinstance(c, TextChunk) for c in chunks[:-1])


def tool_calls(chunks: list[Chunk]) -> tuple[ToolCallChunk, str]:
    """The first of the chunks before the finish, all parts of call 0, and the arguments."""
    calls = [c for c in chunks[:-1] if isinstance(c, ToolCallChunk)]
    assert calls and len(calls) == len(chunks) - 1 and all(c.index == 0 for c in calls)
    assert all(c.name is None and c.call_id is None for c in calls[1:])
    return calls[0], "".join(c.arguments for c in calls)


async def test_a_named_tool_choice_streams_one_whole_tool_call(llm: LlamaCppLLM) -> None:
    chunks = await collect(llm, request(max_output_tokens=100, tools=(WEATHER, UNIT),
                                        tool_choice=ToolChoiceFunction(name="set_unit")))
    first, arguments = tool_calls(chunks)
    assert first.name == "set_unit" and first.call_id
    assert json.loads(arguments) in ({"unit": "celsius"}, {"unit": "fahrenheit"})  # grammar
    assert finish(chunks).reason == "tool_calls"


async def test_required_with_one_tool_calls_it(llm: LlamaCppLLM) -> None:
    chunks = await collect(llm, request(max_output_tokens=100, tools=(UNIT,),
                                        tool_choice="required"))
    assert tool_calls(chunks)[0].name == "set_unit"


async def test_a_tool_call_cut_at_the_token_limit_finishes_with_length(llm: LlamaCppLLM) -> None:
    chunks = await collect(llm, request(max_output_tokens=3, tools=(WEATHER,),
                                        tool_choice=ToolChoiceFunction(name="get_weather")))
    first, arguments = tool_calls(chunks)
    assert first.name == "get_weather" and arguments.startswith("{")
    assert (finish(chunks).reason, finish(chunks).output_tokens) == ("length", 3)


@pytest.fixture
def pulls(llm: LlamaCppLLM, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record, per generation, how many chunks the engine took from llama and whether it
    closed llama's iterator."""
    record: list[dict[str, Any]] = []
    original = llm._llama.create_chat_completion

    def counting(**kwargs: Any) -> Iterator[Any]:
        pieces = original(**kwargs)
        state = {"pulled": 0, "closed": False}
        record.append(state)

        def wrapped() -> Iterator[Any]:
            try:
                for piece in pieces:
                    state["pulled"] += 1
                    yield piece
            finally:
                state["closed"] = True
                pieces.close()

        return wrapped()

    monkeypatch.setattr(llm._llama, "create_chat_completion", counting)
    return record


async def test_cancelling_the_consumer_stops_generation_and_frees_the_model(
        llm: LlamaCppLLM, pulls: list[dict[str, Any]]) -> None:
    got_text = asyncio.Event()

    async def consume() -> None:  # unbounded: would run to the context's end (~1000 tokens)
        async for chunk in llm.stream(request()):
            if isinstance(chunk, TextChunk):
                got_text.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(TIMEOUT):
        await got_text.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    chunks = await collect(llm, request(max_output_tokens=3))  # waits for the model to be free
    assert finish(chunks).output_tokens == 3
    assert len(pulls) == 2
    assert pulls[0]["closed"]
    assert pulls[0]["pulled"] < 500  # stopped early, not at the context's end


async def test_concurrent_responses_take_turns(llm: LlamaCppLLM) -> None:
    a, b = await asyncio.gather(collect(llm, request(max_output_tokens=5)),
                                collect(llm, request(user("Other"), max_output_tokens=6)))
    assert (finish(a).output_tokens, finish(b).output_tokens) == (5, 6)


async def test_a_prompt_over_the_context_is_an_llm_error_and_the_engine_goes_on(
        model_dir: Path) -> None:
    engine = LlamaCppLLM(str(model_dir / "tiny.gguf"), n_ctx=64)
    try:
        with pytest.raises(LLMError) as info:
            await collect(engine, request(user("word " * 200)))
        assert info.value.code == "llm_engine_error"
        assert "context window" in info.value.message
        assert finish(await collect(engine, request(max_output_tokens=2))).reason == "length"
    finally:
        await engine.aclose()


async def test_closing_stops_a_running_response_with_an_error(llm: LlamaCppLLM) -> None:
    stream = llm.stream(request())
    async with asyncio.timeout(TIMEOUT):
        assert isinstance(await anext(stream), TextChunk)
        await llm.aclose()
        with pytest.raises(LLMError, match="closed"):
            async for _ in stream:
                pass
        with pytest.raises(LLMError, match="closed"):
            await collect(llm, request(max_output_tokens=2))


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    with pytest.raises(EngineLoadError) as info:
        LlamaCppLLM(str(tmp_path / "missing.gguf"))
    message = str(info.value)
    assert "\n" not in message
    assert "missing.gguf" in message and "--llm-model" in message


def test_a_file_that_is_not_gguf_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    path = tmp_path / "notes.gguf"
    path.write_text("not a model")
    with pytest.raises(EngineLoadError) as info:
        LlamaCppLLM(str(path))
    assert "\n" not in str(info.value) and "could not load" in str(info.value)


def test_an_unknown_chat_format_is_refused(model_dir: Path) -> None:
    with pytest.raises(EngineLoadError, match="unknown chat format 'klingon'"):
        LlamaCppLLM(str(model_dir / "tiny.gguf"), chat_format="klingon")


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(EngineLoadError, match=r"pip install 'openrealtime\[llama\]'"):
        LlamaCppLLM("model.gguf")


HUB_SCRIPT = textwrap.dedent("""
    import sys, time
    from openrealtime.engines.llama_cpp_llm import LlamaCppLLM
    from openrealtime.engines.loading import EngineLoadError
    start = time.monotonic()
    try:
        LlamaCppLLM(sys.argv[1], n_ctx=128)
        print("loaded")
    except EngineLoadError as err:
        print(err)
    print(time.monotonic() - start)
""")


def load_from_hub(reference: str, home: Path) -> tuple[str, float]:
    """Load ``reference`` in a fresh process whose hub is a closed local port (huggingface_hub
    reads its endpoint once, at import) and whose cache is ``home``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(home)}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run([sys.executable, "-c", HUB_SCRIPT, reference], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    message, elapsed = done.stdout.strip().splitlines()
    return message, float(elapsed)


def test_an_unreachable_hub_fails_fast_with_one_line(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("huggingface_hub")
    message, elapsed = load_from_hub("openrealtime-tests/no-such-repo/tiny.gguf", tmp_path)
    assert "'openrealtime-tests/no-such-repo/tiny.gguf' is not a local path" in message
    assert message.endswith("--llm-model /path/to/model.gguf")
    assert elapsed < 8  # hf_hub_download alone retries for about half a minute


def test_a_cached_hub_file_loads_with_the_hub_unreachable(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("huggingface_hub")
    commit = "0" * 40
    repo = tmp_path / "hub" / "models--openrealtime-tests--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit / "gguf").mkdir(parents=True)
    write_tiny_gguf(repo / "snapshots" / commit / "gguf" / "tiny.gguf")
    message, _ = load_from_hub("openrealtime-tests/tiny/gguf/tiny.gguf", tmp_path)
    assert message == "loaded"
