"""GA server events rewritten as beta ones (EVENTS.md §3.4, §3.8, §5.2, §7): dicts in, dicts out.

Event map, GA → beta:

* ``response.output_text.*`` → ``response.text.*``; ``response.output_audio.*`` →
  ``response.audio.*``; ``response.output_audio_transcript.*`` → ``response.audio_transcript.*``
* ``conversation.item.added`` → ``conversation.item.created``; ``conversation.item.done``
  dropped (beta announces an item once)
* ``session.created``/``.updated``: beta session object; for a transcription session they are
  ``transcription_session.created``/``.updated``
* ``response.created``/``.done``: beta response object (``modalities``, ``voice``,
  ``output_audio_format``, ``temperature``)
* ``response.output_item.*``, ``conversation.item.retrieved``: beta items (parts ``text``/``audio``)
* ``response.function_call_arguments.done``: without ``name``
* ``error``: GA field names in ``param``/``message`` spelled the beta way
* GA-only events (``input_audio_buffer.timeout_triggered``, DTMF, transcription segments, MCP):
  dropped
* everything else (``UNCHANGED``): as is
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Event = dict[str, Any]

RENAMED: dict[str, str] = {
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
}
UNCHANGED: frozenset[str] = frozenset({
    "conversation.created", "conversation.item.truncated", "conversation.item.deleted",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.failed",
    "input_audio_buffer.committed", "input_audio_buffer.cleared",
    "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
    "response.content_part.added", "response.content_part.done",
    "response.function_call_arguments.delta", "rate_limits.updated",
    "output_audio_buffer.started", "output_audio_buffer.stopped", "output_audio_buffer.cleared",
})

FORMAT_NAMES = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
PART_NAMES = {"output_text": "text", "output_audio": "audio"}
DEFAULT_TEMPERATURE = 0.8

# GA paths in ``error.param`` and their beta spelling, longest first.
PARAMS: tuple[tuple[str, str], ...] = tuple(sorted({
    "session.audio.input.format": "session.input_audio_format",
    "session.audio.output.format": "session.output_audio_format",
    "session.audio.input.transcription": "session.input_audio_transcription",
    "session.audio.input.turn_detection": "session.turn_detection",
    "session.audio.input.noise_reduction": "session.input_audio_noise_reduction",
    "session.audio.output.voice": "session.voice",
    "session.audio.output.speed": "session.speed",
    "session.output_modalities": "session.modalities",
    "session.max_output_tokens": "session.max_response_output_tokens",
    "session.tool_choice.name": "session.tool_choice",
    "response.audio.output.format": "response.output_audio_format",
    "response.audio.output.voice": "response.voice",
    "response.output_modalities": "response.modalities",
    "response.max_output_tokens": "response.max_response_output_tokens",
    "response.tool_choice.name": "response.tool_choice",
    "output_modalities": "modalities",
    "'output_text'": "'text'",
    "'output_audio'": "'audio'",
}.items(), key=lambda kv: -len(kv[0])))


def audio_format(fmt: object) -> object:
    if isinstance(fmt, dict):
        return FORMAT_NAMES.get(fmt.get("type", ""), fmt.get("type"))
    return fmt


def item(value: Event) -> Event:
    if value.get("type") != "message":
        return value
    content = value.get("content") or []
    if not any(p.get("type") in PART_NAMES for p in content):
        return value
    return {**value, "content": [{**p, "type": PART_NAMES[p["type"]]}
                                 if p.get("type") in PART_NAMES else p for p in content]}


def modalities(value: object) -> list[str]:
    # GA's audio output always comes with a transcript: beta spells that ["text", "audio"].
    return ["text", "audio"] if value == ["audio"] else ["text"]


def tool_choice(value: object) -> object:
    if isinstance(value, dict):
        return value.get("name", "auto")
    return value


def realtime_session(s: Event, temperature: float) -> Event:
    audio = s.get("audio") or {}
    ain, aout = audio.get("input") or {}, audio.get("output") or {}
    return {
        "id": s.get("id"),
        "object": "realtime.session",
        "model": s.get("model"),
        "expires_at": s.get("expires_at"),
        "modalities": modalities(s.get("output_modalities")),
        "instructions": s.get("instructions"),
        "voice": aout.get("voice"),
        "speed": aout.get("speed"),
        "input_audio_format": audio_format(ain.get("format")),
        "output_audio_format": audio_format(aout.get("format")),
        "input_audio_transcription": ain.get("transcription"),
        "turn_detection": ain.get("turn_detection"),
        "input_audio_noise_reduction": ain.get("noise_reduction"),
        "tools": s.get("tools", []),
        "tool_choice": tool_choice(s.get("tool_choice", "auto")),
        "temperature": temperature,
        "max_response_output_tokens": s.get("max_output_tokens", "inf"),
        "tracing": s.get("tracing"),
    }


def transcription_session(s: Event) -> Event:
    ain = (s.get("audio") or {}).get("input") or {}
    return {
        "id": s.get("id"),
        "object": "realtime.transcription_session",
        "expires_at": s.get("expires_at"),
        "modalities": ["text"],
        "input_audio_format": audio_format(ain.get("format")),
        "input_audio_transcription": ain.get("transcription"),
        "turn_detection": ain.get("turn_detection"),
        "input_audio_noise_reduction": ain.get("noise_reduction"),
        "include": s.get("include"),
        # openai-python's beta model requires it (it was the REST creation response); a live
        # session has no secret to show.
        "client_secret": {"value": "", "expires_at": s.get("expires_at") or 0},
    }


def response(r: Event, temperature: float) -> Event:
    out_audio = (r.get("audio") or {}).get("output") or {}
    return {
        "id": r.get("id"),
        "object": "realtime.response",
        "status": r.get("status"),
        "status_details": r.get("status_details"),
        "output": [item(i) for i in r.get("output") or []],
        "conversation_id": r.get("conversation_id"),
        "modalities": modalities(r.get("output_modalities")),
        "voice": out_audio.get("voice"),
        "output_audio_format": audio_format(out_audio.get("format")),
        "max_output_tokens": r.get("max_output_tokens"),
        "temperature": temperature,
        "metadata": r.get("metadata"),
        "usage": usage(r.get("usage")),
    }


def usage(u: Event | None) -> Event | None:
    if u is None:
        return None
    details = u.get("input_token_details") or {}
    return {**u, "input_token_details": {k: details[k] for k in (
        "text_tokens", "audio_tokens", "cached_tokens") if k in details}}


def error(e: Event) -> Event:
    err = e.get("error") or {}
    param, message = err.get("param"), err.get("message")
    if not (isinstance(param, str) or isinstance(message, str)):
        return e
    for ga, beta in PARAMS:
        if isinstance(param, str) and param.startswith(ga):
            param = beta + param[len(ga):]
        if isinstance(message, str) and ga in message:
            message = message.replace(ga, beta)
    return {**e, "error": {**err, "param": param, "message": message}}


def with_item(e: Event) -> Event:
    return {**e, "item": item(e["item"])}


def item_added(e: Event) -> Event:
    return {**e, "type": "conversation.item.created", "item": item(e["item"])}


def arguments_done(e: Event) -> Event:
    return {k: v for k, v in e.items() if k != "name"}


# Events rewritten without per-connection state.
STATELESS: dict[str, Callable[[Event], Event]] = {
    "error": error,
    "conversation.item.added": item_added,
    "conversation.item.retrieved": with_item,
    "response.output_item.added": with_item,
    "response.output_item.done": with_item,
    "response.function_call_arguments.done": arguments_done,
}
