"""Conversation items as Chat Completions messages.

Audio parts go in through their transcripts (the LLM sees what was said); a user audio part with
no transcript yet is left out. Consecutive function calls become one assistant message with
several ``tool_calls``, attached to the assistant text before them when there is one, because
strict chat templates refuse two assistant messages in a row.

Chat backends also insist that every ``tool_calls`` entry is answered by a ``tool`` message
right after it, which a Realtime conversation does not promise: a client may ignore a call, put
its output after later messages, or delete the call. So each output is placed right after its
call, calls with no output are left out, and outputs whose call is gone are left out.
"""

from __future__ import annotations

from typing import Any

from ..protocol.items import (
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
from ..protocol.session_types import FunctionTool, ToolChoice, ToolChoiceFunction

Message = dict[str, Any]


def _message_content(item: MessageItem) -> str | list[dict[str, Any]] | None:
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for part in item.content:
        if isinstance(part, (InputTextPart, OutputTextPart)):
            texts.append(part.text)
        elif isinstance(part, (InputAudioPart, OutputAudioPart)):
            if part.transcript:
                texts.append(part.transcript)
        elif isinstance(part, InputImagePart):
            url: dict[str, Any] = {"url": part.image_url}
            if isinstance(part.detail, str):
                url["detail"] = part.detail
            images.append({"type": "image_url", "image_url": url})
    if images:
        return [{"type": "text", "text": t} for t in texts] + images
    if not texts:
        return None
    return "\n".join(texts)


def to_messages(instructions: str, items: tuple[Item, ...]) -> list[Message]:
    outputs: dict[str, FunctionCallOutputItem] = {}
    for item in items:
        if isinstance(item, FunctionCallOutputItem):
            outputs.setdefault(item.call_id, item)
    messages: list[Message] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    results: list[Message] = []  # tool messages owed to the open group of calls

    def flush() -> None:
        messages.extend(results)
        results.clear()

    for item in items:
        if isinstance(item, FunctionCallItem):
            result = outputs.get(item.call_id) if isinstance(item.call_id, str) else None
            if result is None:
                continue  # unanswered: chat backends refuse a call with no tool message
            call = {"id": item.call_id, "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments or "{}"}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            results.append({"role": "tool", "tool_call_id": result.call_id,
                            "content": result.output})
        elif isinstance(item, FunctionCallOutputItem):
            flush()  # an output closes the group: a later call is a new assistant turn
        else:
            flush()
            content = _message_content(item)
            if content is not None:
                messages.append({"role": item.role, "content": content})
    flush()
    return messages


def to_tools(tools: tuple[FunctionTool, ...]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        fn: dict[str, Any] = {"name": tool.name}
        if isinstance(tool.description, str):
            fn["description"] = tool.description
        fn["parameters"] = (tool.parameters if isinstance(tool.parameters, dict)
                            else {"type": "object", "properties": {}})
        out.append({"type": "function", "function": fn})
    return out


def to_tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if isinstance(choice, ToolChoiceFunction):
        return {"type": "function", "function": {"name": choice.name}}
    assert isinstance(choice, str)
    return choice
