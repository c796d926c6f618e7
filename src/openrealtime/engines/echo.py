"""``echo``: an honest local LLM engine that replies with what the user last said.

No LLM runs offline without weights, so the default engine says plainly what it does. It makes a
fresh install answer end to end and gives tests a deterministic reply.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from ..protocol.items import InputAudioPart, InputTextPart, MessageItem
from .llm import Chunk, FinishChunk, LLMRequest, TextChunk, estimate_tokens

_WORDS = re.compile(r"\S+\s*")


def last_user_text(request: LLMRequest) -> str:
    for item in reversed(request.items):
        if isinstance(item, MessageItem) and item.role == "user":
            texts = [p.text if isinstance(p, InputTextPart) else p.transcript or ""
                     for p in item.content if isinstance(p, (InputTextPart, InputAudioPart))]
            return " ".join(t for t in texts if t)
    return ""


class EchoLLM:
    name = "echo"

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        heard = last_user_text(request)
        reply = f"You said: {heard}" if heard else "I heard nothing to echo."
        words = _WORDS.findall(reply)
        limit = request.max_output_tokens
        for n, word in enumerate(words, 1):
            yield TextChunk(word)
            if limit is not None and n >= limit and n < len(words):
                yield FinishChunk("length", _prompt_tokens(request, heard), n)
                return
        yield FinishChunk("stop", _prompt_tokens(request, heard), len(words))

    async def aclose(self) -> None:
        return None


def _prompt_tokens(request: LLMRequest, heard: str) -> int:
    # Echo reads only the instructions and the last user message, so that is its prompt; the
    # count stays constant however long the conversation grows.
    return estimate_tokens(request.instructions) + estimate_tokens(heard)
