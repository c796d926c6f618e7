"""Every engine openrealtime can run, what it needs, and whether it is installed here.

Data only: ``openrealtime engines`` prints it and the README's table says the same. Whether an
engine is installed is asked of the import system without importing it (``find_spec``), so the
listing stays instant even with heavy extras present.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

Kind = Literal["llm", "asr", "tts", "vad"]


@dataclass(frozen=True, slots=True)
class EngineInfo:
    kind: Kind
    name: str
    """The value of ``--llm-engine`` / ``--asr-engine`` / ``--tts-engine``."""
    package: str | None
    """The module it imports (``None``: nothing beyond the core)."""
    extra: str | None
    """The pip extra that installs ``package`` (``None``: a plain install has it)."""
    needs: str
    good_for: str


ENGINES: tuple[EngineInfo, ...] = (
    EngineInfo("vad", "silero", "onnxruntime", None, "nothing (model ships in the package)",
               "turn detection for every session, batched across sessions"),
    EngineInfo("llm", "echo", None, None, "nothing",
               "a first run, and tests: replies with what it heard"),
    EngineInfo("llm", "scripted", "yaml", None, "--llm-rules FILE (YAML rules)",
               "deterministic replies and tool calls for testing voice apps in CI"),
    EngineInfo("llm", "openai", None, None,
               "--llm-base-url of a Chat Completions API (Ollama, vLLM, llama.cpp, OpenAI)",
               "real conversations with any model behind an OpenAI-compatible server"),
    EngineInfo("llm", "llama-cpp", "llama_cpp", "llama", "--llm-model FILE.gguf (or hub name)",
               "a real model in-process, no other server (builds from source)"),
    EngineInfo("asr", "pocketsphinx", "pocketsphinx", None, "nothing (English model in wheel)",
               "offline English with modest accuracy; clear speech, short commands"),
    EngineInfo("asr", "openai", None, None,
               "--asr-base-url of an /audio/transcriptions API (speaches, vLLM, OpenAI)",
               "accurate multilingual transcription from a server"),
    EngineInfo("asr", "faster-whisper", "faster_whisper", "whisper",
               "--asr-model DIR (CTranslate2 Whisper) or a model name",
               "accurate multilingual transcription in-process; a GPU helps for large models"),
    EngineInfo("asr", "none", None, None, "nothing",
               "text-only sessions: audio input is not transcribed"),
    EngineInfo("tts", "espeak", "espeakng_loader", None, "nothing (voices ship in the wheel)",
               "instant, offline, robotic but intelligible; many languages"),
    EngineInfo("tts", "openai", None, None,
               "--tts-base-url of an /audio/speech API (speaches, Kokoro-FastAPI, OpenAI)",
               "natural voices from a server"),
    EngineInfo("tts", "piper", "piper", "piper", "--tts-model VOICE.onnx (+ .onnx.json)",
               "natural, fast on CPU; one voice per model file"),
    EngineInfo("tts", "kokoro", "kokoro_onnx", "kokoro",
               "--tts-model kokoro.onnx (+ voices .bin beside it)",
               "the most natural local voices; slower on CPU than piper"),
    EngineInfo("tts", "none", None, None, "nothing", "text-only replies"),
)


def installed(info: EngineInfo) -> bool:
    return info.package is None or importlib.util.find_spec(info.package) is not None
