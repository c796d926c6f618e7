"""Conversation items and their content parts (EVENTS.md §3.7).

Items are tagged by ``type``; messages are one struct whose ``role`` decides which part types are
legal (msgspec cannot discriminate on two keys, so ``validate_message`` checks the pairing).
Stored items keep their audio; events other than ``conversation.item.retrieved`` carry a copy
without it (``without_audio``).
"""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

from .errors import MISSING_PARAMETER, UNSUPPORTED_CONTENT_TYPE, ClientError

ItemStatus = Literal["completed", "incomplete", "in_progress"]
ItemObject = Literal["realtime.item"]


class InputTextPart(msgspec.Struct, tag="input_text", tag_field="type", kw_only=True):
    text: str


class InputAudioPart(msgspec.Struct, tag="input_audio", tag_field="type", kw_only=True):
    audio: str | UnsetType = UNSET
    # Null until transcription completes; clients read it from retrieve afterwards.
    transcript: str | None = None


class InputImagePart(msgspec.Struct, tag="input_image", tag_field="type", kw_only=True):
    image_url: str
    detail: Literal["auto", "low", "high"] | UnsetType = UNSET


class OutputTextPart(msgspec.Struct, tag="output_text", tag_field="type", kw_only=True):
    text: str


class OutputAudioPart(msgspec.Struct, tag="output_audio", tag_field="type", kw_only=True):
    audio: str | UnsetType = UNSET
    transcript: str | None = None


ContentPart = InputTextPart | InputAudioPart | InputImagePart | OutputTextPart | OutputAudioPart

_PARTS_BY_ROLE: dict[str, tuple[type, ...]] = {
    "system": (InputTextPart,),
    "user": (InputTextPart, InputAudioPart, InputImagePart),
    # Clients may only create text assistant messages; audio ones come from the model.
    "assistant": (OutputTextPart,),
}


class MessageItem(msgspec.Struct, tag="message", tag_field="type", kw_only=True):
    id: str | UnsetType = UNSET
    object: ItemObject | UnsetType = UNSET
    status: ItemStatus | UnsetType = UNSET
    role: Literal["system", "user", "assistant"]
    content: list[ContentPart]


class FunctionCallItem(msgspec.Struct, tag="function_call", tag_field="type", kw_only=True):
    id: str | UnsetType = UNSET
    object: ItemObject | UnsetType = UNSET
    status: ItemStatus | UnsetType = UNSET
    name: str
    call_id: str | UnsetType = UNSET
    arguments: str


class FunctionCallOutputItem(
    msgspec.Struct, tag="function_call_output", tag_field="type", kw_only=True
):
    id: str | UnsetType = UNSET
    object: ItemObject | UnsetType = UNSET
    status: ItemStatus | UnsetType = UNSET
    call_id: str
    output: str


class ItemReference(msgspec.Struct, tag="item_reference", tag_field="type", kw_only=True):
    """``{type: "item_reference", id}``: an existing item, inside ``response.create.input`` only."""

    id: str


Item = MessageItem | FunctionCallItem | FunctionCallOutputItem
InputItem = Item | ItemReference


class ResponsePart(msgspec.Struct, kw_only=True):
    """The part in ``response.content_part.*``: typed ``text``/``audio``, unlike items' parts."""

    type: Literal["text", "audio"]
    text: str | UnsetType = UNSET
    audio: str | UnsetType = UNSET
    transcript: str | UnsetType = UNSET


def validate_client_message(item: MessageItem, param: str = "item") -> None:
    """Refuse part types that the message's role may not carry."""
    allowed = _PARTS_BY_ROLE[item.role]
    if not item.content:
        raise ClientError(
            f"A {item.role} message needs at least one content part.",
            code=MISSING_PARAMETER,
            param=f"{param}.content",
        )
    for i, part in enumerate(item.content):
        if not isinstance(part, allowed):
            kind = part.__struct_config__.tag
            names = ", ".join(repr(p.__struct_config__.tag) for p in allowed)  # type: ignore[attr-defined]
            raise ClientError(
                f"Invalid content type {kind!r} for a {item.role} message; expected {names}.",
                code=UNSUPPORTED_CONTENT_TYPE if item.role == "assistant" else "invalid_value",
                param=f"{param}.content[{i}].type",
            )


def without_audio(item: Item) -> Item:
    """The item as events other than ``retrieved`` show it: audio bytes left out."""
    if not isinstance(item, MessageItem):
        return item
    parts = item.content
    if not any(isinstance(p, (InputAudioPart, OutputAudioPart)) and p.audio is not UNSET
               for p in parts):
        return item
    stripped: list[ContentPart] = [
        msgspec.structs.replace(p, audio=UNSET)
        if isinstance(p, (InputAudioPart, OutputAudioPart)) else p
        for p in parts
    ]
    return msgspec.structs.replace(item, content=stripped)
