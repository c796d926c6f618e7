"""Beta client events rewritten as GA ones (EVENTS.md §3.4, §3.9, §5.1, §7): dicts in, dicts out.

Only what differs is rewritten; everything else is passed on for the GA decoder to check, so a
bad value still gets OpenAI's error. Beta-only fields that the GA decoder cannot see are checked
here, with the beta ``param`` in the error.
"""

from __future__ import annotations

from typing import Any

from .errors import INVALID_TYPE, INVALID_VALUE, ClientError

Event = dict[str, Any]

# The 12 beta client events (EVENTS.md §5.1).
CLIENT_TYPES: tuple[str, ...] = (
    "session.update", "transcription_session.update", "input_audio_buffer.append",
    "input_audio_buffer.commit", "input_audio_buffer.clear", "output_audio_buffer.clear",
    "conversation.item.create", "conversation.item.retrieve", "conversation.item.truncate",
    "conversation.item.delete", "response.create", "response.cancel",
)

AUDIO_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
TOOL_CHOICE_MODES = ("auto", "none", "required")
# Beta assistant parts; their GA names.
ASSISTANT_PARTS = {"text": "output_text", "audio": "output_audio"}
TEMPERATURE_RANGE = (0.6, 1.2)


def audio_format(value: object, param: str) -> dict[str, Any]:
    if isinstance(value, str) and value in AUDIO_FORMATS:
        return dict(AUDIO_FORMATS[value])
    names = ", ".join(repr(n) for n in AUDIO_FORMATS)
    raise ClientError(f"Invalid value: {_show(value)}. Supported values are: {names}.",
                      code=INVALID_VALUE, param=param)


def modalities(value: object, param: str) -> object:
    """``["text"]`` stays; any list with ``audio`` is GA's ``["audio"]`` (audio implies its
    transcript there)."""
    if not isinstance(value, list):
        return value  # the GA decoder names the type error
    for i, m in enumerate(value):
        if m not in ("text", "audio"):
            raise ClientError(f"Invalid value: {_show(m)}. Supported values are: 'text' and "
                              "'audio'.", code=INVALID_VALUE, param=f"{param}[{i}]")
    if not value:
        raise ClientError("modalities must be ['text'] or ['text', 'audio'].",
                          code=INVALID_VALUE, param=param)
    return ["audio"] if "audio" in value else ["text"]


def temperature(value: object, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClientError(f"Invalid type for '{param}': expected a decimal, but got "
                          f"{type(value).__name__} instead.", code=INVALID_TYPE, param=param)
    low, high = TEMPERATURE_RANGE
    if not low <= value <= high:
        raise ClientError(f"Invalid '{param}': expected a value between {low} and {high}, but "
                          f"got {value} instead.", code=INVALID_VALUE, param=param)
    return float(value)


def tools(value: object) -> object:
    # Beta lets a function tool leave out ``type``; GA needs the tag.
    if not isinstance(value, list):
        return value
    return [{"type": "function", **t} if isinstance(t, dict) and "type" not in t else t
            for t in value]


def tool_choice(value: object) -> object:
    # Beta names a function by a bare string; GA by an object.
    if isinstance(value, str) and value not in TOOL_CHOICE_MODES:
        return {"type": "function", "name": value}
    return value


def item(value: object) -> object:
    """Beta assistant parts ``text``/``audio`` become GA's ``output_text``/``output_audio``."""
    if not (isinstance(value, dict) and value.get("type") == "message"
            and value.get("role") == "assistant" and isinstance(value.get("content"), list)):
        return value
    content = [{**p, "type": ASSISTANT_PARTS[p["type"]]}
               if isinstance(p, dict) and p.get("type") in ASSISTANT_PARTS else p
               for p in value["content"]]
    return {**value, "content": content}


def realtime_session(session: Event) -> tuple[Event, float | None]:
    """A beta ``session`` → a GA realtime session; also the temperature it sets, if any."""
    out: Event = {"type": "realtime"}
    audio_in: Event = {}
    audio_out: Event = {}
    temp: float | None = None
    for key, value in session.items():
        param = f"session.{key}"
        if _audio_input(key, value, param, audio_in):
            continue
        if key == "modalities":
            out["output_modalities"] = modalities(value, param)
        elif key == "output_audio_format":
            audio_out["format"] = audio_format(value, param)
        elif key == "voice":
            audio_out["voice"] = value
        elif key == "speed":
            audio_out["speed"] = value
        elif key == "max_response_output_tokens":
            out["max_output_tokens"] = value
        elif key == "tools":
            out["tools"] = tools(value)
        elif key == "tool_choice":
            out["tool_choice"] = tool_choice(value)
        elif key == "temperature":
            temp = temperature(value, param)
        elif key == "client_secret":
            pass  # only meaningful to POST /v1/realtime/sessions
        else:
            out[key] = value  # same name in GA, or unknown: the GA decoder decides
    _put_audio(out, audio_in, audio_out)
    return out, temp


# Beta's flat input settings and where GA keeps them under ``audio.input``.
_INPUT_KEYS = {"input_audio_transcription": "transcription", "turn_detection": "turn_detection",
               "input_audio_noise_reduction": "noise_reduction"}


def _audio_input(key: str, value: Any, param: str, audio_in: Event) -> bool:
    """Move one beta input setting into ``audio_in``; False if ``key`` is not one."""
    if key == "input_audio_format":
        audio_in["format"] = audio_format(value, param)
    elif key in _INPUT_KEYS:
        audio_in[_INPUT_KEYS[key]] = value
    else:
        return False
    return True


def transcription_session(session: Event) -> Event:
    """A beta ``transcription_session.update`` ``session`` → a GA transcription session."""
    out: Event = {"type": "transcription"}
    audio_in: Event = {}
    for key, value in session.items():
        param = f"session.{key}"
        if _audio_input(key, value, param, audio_in):
            continue
        if key == "modalities":
            modalities(value, param)  # checked; a transcription session has no output
        elif key == "client_secret":
            pass
        else:
            out[key] = value
    _put_audio(out, audio_in, {})
    return out


def response_params(params: Event) -> tuple[Event, float | None]:
    """Beta ``response.create`` ``response`` → GA; also the temperature it asks for."""
    out: Event = {}
    audio_out: Event = {}
    temp: float | None = None
    for key, value in params.items():
        param = f"response.{key}"
        if key == "modalities":
            out["output_modalities"] = modalities(value, param)
        elif key == "voice":
            audio_out["voice"] = value
        elif key == "output_audio_format":
            audio_out["format"] = audio_format(value, param)
        elif key == "max_response_output_tokens":
            out["max_output_tokens"] = value
        elif key == "temperature":
            temp = temperature(value, param)
        elif key == "tools":
            out["tools"] = tools(value)
        elif key == "tool_choice":
            out["tool_choice"] = tool_choice(value)
        elif key == "input" and isinstance(value, list):
            out["input"] = [item(i) for i in value]
        else:
            out[key] = value
    if audio_out:
        out["audio"] = {"output": audio_out}
    return out, temp


def _put_audio(out: Event, audio_in: Event, audio_out: Event) -> None:
    audio: Event = {}
    if audio_in:
        audio["input"] = audio_in
    if audio_out:
        audio["output"] = audio_out
    if audio:
        out["audio"] = audio


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 64 else text[:64] + "…"
