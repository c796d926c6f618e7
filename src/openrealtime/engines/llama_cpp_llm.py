"""LLM engine running a GGUF model in this process with llama.cpp (llama-cpp-python).

``model`` is a GGUF file path, or a Hugging Face hub reference ``owner/repo/file.gguf`` (the
file's path inside the repository may have folders: ``owner/repo/sub/file.gguf``), downloaded
once into the hub cache and then used from there, offline too.

One model runs one generation at a time: a ``Llama`` instance is not thread-safe, so every call
into it goes through one worker thread, and concurrent responses wait their turn. Chunks reach
the event loop through a queue. Cancelling the consuming generator stops the generation before
its next token (a long prompt's evaluation, which llama.cpp does in one call, runs to its end).

Tools: llama-cpp-python (0.3.x) passes ``tools`` to the model's chat template, but it does not
parse a tool call out of generated text: a tool call comes out only for a named ``tool_choice``
(or ``"required"`` with a single tool), whose arguments a grammar holds to the tool's schema.
With ``"auto"`` a model's own tool-call syntax arrives as plain text. Its
``chatml-function-calling`` format cannot stream an automatic tool call (it raises) and holds
its text answers to a function name, so it does not help here. For tool use with ``"auto"``, run
``llama-server --jinja`` and use the ``openai`` LLM engine.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import msgspec

from ..protocol.session_types import ToolChoice, ToolChoiceFunction
from .chat_messages import to_messages, to_tool_choice, to_tools
from .llm import Chunk, FinishChunk, LLMError, LLMRequest, TextChunk, ToolCallChunk, estimate_tokens
from .loading import HUB_TIMEOUT, EngineLoadError, first_line, from_hub, require

ENGINE = "llama.cpp"
Reason = Literal["stop", "length", "tool_calls", "content_filter"]
_FINISH: dict[str, Reason] = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
Emit = Callable[[Chunk | LLMError | None], None]


class LlamaCppLLM:
    name = "llama.cpp"

    def __init__(self, model: str, *, n_ctx: int = 4096, n_threads: int | None = None,
                 chat_format: str | None = None) -> None:
        llama_cpp = require("llama_cpp", engine=ENGINE, extra="llama")
        if chat_format is not None:
            _check_chat_format(llama_cpp, chat_format)
        path = _model_path(model)
        try:
            self._llama: Any = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads,
                                               chat_format=chat_format, verbose=False)
        except Exception as err:  # llama-cpp-python says only ValueError("Failed to load ...")
            raise EngineLoadError(
                f"the {ENGINE} engine could not load {path} ({first_line(err)}); is it a GGUF "
                f"model of an architecture this llama-cpp-python supports?") from None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama.cpp")
        self._running: set[threading.Event] = set()
        self._closed = False

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for stop in self._running:
            stop.set()
        # Freeing the model under a running generation would crash: close it on the worker,
        # after whatever it is running has stopped.
        await asyncio.get_running_loop().run_in_executor(self._executor, self._llama.close)
        self._executor.shutdown(wait=False)

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        if self._closed:
            raise LLMError("llm_engine_error", f"the {ENGINE} engine is closed.")
        args = _arguments(request)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Chunk | LLMError | None] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: Chunk | LLMError | None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        self._running.add(stop)
        self._executor.submit(self._generate, args, stop, emit)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, LLMError):
                    raise item
                yield item
        finally:
            stop.set()  # the worker sees it before its next token and lets the next one in
            self._running.discard(stop)

    def _generate(self, args: dict[str, Any], stop: threading.Event, emit: Emit) -> None:
        """On the worker thread: run one generation, emitting chunks, then ``None``."""
        try:
            if stop.is_set():  # a response cancelled while it waited never starts
                raise _stopped()
            for chunk in self._chunks(args, stop):
                emit(chunk)
        except LLMError as err:
            emit(err)
        except Exception as err:
            emit(LLMError("llm_engine_error", f"{ENGINE} generation failed: {first_line(err)}"))
        emit(None)

    def _chunks(self, args: dict[str, Any], stop: threading.Event) -> Iterator[Chunk]:
        pieces = self._llama.create_chat_completion(**args, stream=True)
        reader = _StreamReader()
        try:
            for piece in pieces:
                if stop.is_set():
                    raise _stopped()
                yield from reader.read(piece)
        finally:
            pieces.close()  # ends llama's generator (and its sampling) when we stop early
        limit = args.get("max_tokens")
        yield FinishChunk(
            # A tool call's stream always says "tool_calls", even when cut off at the limit.
            reason="length" if limit is not None and reader.tokens >= limit else reader.finish,
            input_tokens=estimate_tokens(
                msgspec.json.encode([args["messages"], args.get("tools")]).decode()),
            output_tokens=reader.tokens)


def _stopped() -> LLMError:
    # Only a consumer that went away or aclose stop a generation: this reaches only the latter.
    return LLMError("llm_engine_error", f"the {ENGINE} engine was closed during the response.")


def _arguments(request: LLMRequest) -> dict[str, Any]:
    args: dict[str, Any] = {"messages": to_messages(request.instructions, request.items)}
    if request.max_output_tokens is not None:
        args["max_tokens"] = request.max_output_tokens
    if request.tools:
        args["tools"] = to_tools(request.tools)
        choice: ToolChoice = request.tool_choice
        if choice == "required" and len(request.tools) == 1:
            # llama-cpp-python enforces only a named choice (with a grammar); with one tool,
            # "required" means exactly that.
            choice = ToolChoiceFunction(name=request.tools[0].name)
        args["tool_choice"] = to_tool_choice(choice)
    return args


class _StreamReader:
    """llama-cpp-python's streamed chat chunks (OpenAI-shaped dicts) as ours.

    Each delta with content or a tool call carries one sampled token (llama-cpp-python streams
    token by token and reports no usage when streaming), so counting them counts the output.
    """

    def __init__(self) -> None:
        self.finish: Reason = "stop"
        self.tokens = 0
        self._calls: set[int] = set()

    def read(self, piece: dict[str, Any]) -> Iterator[Chunk]:
        choice = piece["choices"][0]
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str):
            self.tokens += 1
            if content:
                yield TextChunk(content)
        for call in delta.get("tool_calls") or ():
            index = call.get("index", 0)
            fn = call.get("function") or {}
            arguments = fn.get("arguments") or ""
            if arguments:  # the call's last delta is empty and carries no token
                self.tokens += 1
            if index not in self._calls:  # every delta repeats the name and id: announce once
                self._calls.add(index)
                yield ToolCallChunk(index, arguments, name=fn.get("name") or "",
                                    call_id=call.get("id"))
            elif arguments:
                yield ToolCallChunk(index, arguments)
        if choice.get("finish_reason"):
            self.finish = _FINISH.get(choice["finish_reason"], "stop")


def _check_chat_format(llama_cpp: Any, name: str) -> None:
    if name.startswith("chat_template."):
        return  # one of the templates in the GGUF's own metadata, known only once loaded
    try:
        llama_cpp.llama_chat_format.get_chat_completion_handler(name)
    except Exception:
        raise EngineLoadError(
            f"the {ENGINE} engine: unknown chat format {name!r}; leave it unset to use the "
            "model's own chat template, or name one llama-cpp-python knows (chatml, llama-3, "
            "mistral-instruct, gemma, ...)") from None


def _model_path(model: str) -> str:
    path = Path(model).expanduser()
    if path.is_file():
        return str(path)
    reference = _hub_reference(model)
    if reference is None:
        raise EngineLoadError(
            f"the {ENGINE} engine: no GGUF file at {model!r}; pass a model file's path, or a "
            "Hugging Face reference owner/repo/file.gguf, with --llm-model")
    return _download(*reference, model)


def _hub_reference(model: str) -> tuple[str, str] | None:
    """``owner/repo/path/in/repo.gguf`` as (repo id, file name), or None for a local path."""
    parts = model.split("/")
    if (len(parts) < 3 or "" in parts or model.startswith((".", "~"))
            or not model.endswith(".gguf")):
        return None
    return "/".join(parts[:2]), "/".join(parts[2:])


def _download(repo_id: str, filename: str, model: str) -> str:
    hub = require("huggingface_hub", engine=ENGINE, extra="llama")
    return from_hub(
        ENGINE, model,
        cached=lambda: str(hub.hf_hub_download(repo_id, filename, local_files_only=True)),
        probe=lambda: hub.get_hf_file_metadata(hub.hf_hub_url(repo_id, filename),
                                               timeout=HUB_TIMEOUT),
        download=lambda: str(hub.hf_hub_download(repo_id, filename)),
        flag="--llm-model", local="/path/to/model.gguf")
