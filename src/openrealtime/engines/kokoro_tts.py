"""Kokoro (``openrealtime[kokoro]``, kokoro-onnx): the most natural local voices, 24 kHz.

The model (``kokoro-v1.0.onnx``) and a voices file (``voices-v1.0.bin``: one style array per
voice) are local files. The text is cut at sentence ends, and each sentence is phonemized
(espeak-ng from ``espeakng-loader``, in the voice's language), synthesized and yielded on its
own, so that the first one plays while the next is made.

Realtime voice names map onto kokoro voices by ``REALTIME_TO_KOKORO`` (the first one the voices
file has), a kokoro voice name passes through as is, and anything else speaks with the file's
first voice; ``voice`` forces one for every request. ``SpeechRequest.instructions`` is ignored:
kokoro takes no style prompt.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .loading import EngineLoadError, first_line, require
from .local_tts import ThreadedSynthesis, model_file, pcm16
from .tts import SpeechRequest

ENGINE = "kokoro"
RELEASES_URL = "https://github.com/thewh1teagle/kokoro-onnx/releases"
VOICES_FLAG = "--tts-voices"
SAMPLE_RATE = 24000
MIN_SPEED, MAX_SPEED = 0.5, 2.0  # what kokoro-onnx accepts
# Each sentence is trimmed of the model's edge silence; this is kokoro-onnx's own gap between
# sentences, put back where they join.
SENTENCE_PAUSE_S = 0.25

REALTIME_TO_KOKORO: dict[str, tuple[str, ...]] = {
    # Kokoro v1.0's own namesakes first, then its voices nearest in gender and character.
    "alloy": ("af_alloy", "af_heart", "af_bella"),
    "ash": ("am_adam", "am_michael"),
    "ballad": ("bm_fable", "bm_george", "bm_lewis"),
    "coral": ("af_bella", "af_heart"),
    "echo": ("am_echo", "am_michael"),
    "sage": ("af_sarah", "af_nicole", "bf_emma"),
    "shimmer": ("af_nova", "af_sky", "af_nicole"),
    "verse": ("am_liam", "am_eric", "am_puck"),
    "marin": ("af_heart", "af_bella"),
    "cedar": ("am_michael", "am_onyx", "am_adam"),
}
"""Realtime voice -> kokoro voices to try, best first."""

# A kokoro voice's first letter is its language (misaki's convention), which sets espeak's.
LANGUAGES = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr-fr", "h": "hi", "i": "it",
             "j": "ja", "p": "pt-br", "z": "cmn"}
# A mark ends a sentence where whitespace follows it ("3.5" goes on); CJK puts no space after.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])")
MIN_SENTENCE_CHARS = 20


def kokoro_voice(requested: str, available: Sequence[str]) -> str:
    """The kokoro voice that speaks for ``requested`` among ``available`` (in file order)."""
    if requested in available:
        return requested
    for name in REALTIME_TO_KOKORO.get(requested.strip().lower(), ()):
        if name in available:
            return name
    return available[0]


def _sentences(text: str) -> list[str]:
    """Cut text at sentence ends. A short piece joins the next: "Dr." ends no sentence, and a
    model call for a word or two would cost the voice its prosody for no earlier audio."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if out and len(out[-1]) < MIN_SENTENCE_CHARS:
            out[-1] += " " + piece
        else:
            out.append(piece)
    return [s for s in out if s.strip()]


def _voices_file(model: Path, voices: str | None) -> Path:
    if voices is not None:
        path = Path(voices).expanduser()
        if not path.is_file():
            raise EngineLoadError(
                f"the {ENGINE} engine: voices file {voices!r} not found; download "
                f"voices-v1.0.bin from {RELEASES_URL} and pass its path: {VOICES_FLAG} PATH")
        return path
    found = sorted(model.parent.glob("voices*.bin"))
    if not found:
        raise EngineLoadError(
            f"the {ENGINE} engine: no voices file (voices*.bin) beside {str(model)!r}; download "
            f"voices-v1.0.bin from {RELEASES_URL} and put it there, or pass {VOICES_FLAG} PATH")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise EngineLoadError(f"the {ENGINE} engine: several voices files beside the model "
                              f"({names}); choose one: {VOICES_FLAG} PATH")
    return found[0]


def _check_voice(voice: str | None, names: Sequence[str], voices: Path) -> None:
    if not names:
        raise EngineLoadError(f"the {ENGINE} engine: {str(voices)!r} holds no voices")
    if voice is not None and voice not in names:
        raise EngineLoadError(f"the {ENGINE} engine: {voices.name} has no voice {voice!r}; "
                              f"it has {', '.join(names[:12])}")


class KokoroSynthesizer:
    def __init__(self, model: str, *, voices: str | None = None,
                 voice: str | None = None) -> None:
        """``model``: the kokoro ``.onnx``; ``voices``: its voices ``.bin`` (default: the one
        ``voices*.bin`` beside the model); ``voice``: a kokoro voice for every request."""
        kokoro_onnx = require("kokoro_onnx", engine=ENGINE, extra="kokoro")
        path = model_file(ENGINE, model, download=RELEASES_URL,
                          what="kokoro-v1.0.onnx and voices-v1.0.bin")
        voices_path = _voices_file(path, voices)
        try:
            self._kokoro: Any = kokoro_onnx.Kokoro(str(path), str(voices_path))
            names = tuple(str(name) for name in self._kokoro.voices.keys())
        except Exception as err:  # an ONNX file onnxruntime refuses, a voices file numpy cannot
            raise EngineLoadError(f"the {ENGINE} engine: cannot load {str(path)!r} with "
                                  f"{voices_path.name}: {first_line(err)}") from None
        try:
            _check_voice(voice, names, voices_path)
        except EngineLoadError:
            self._kokoro.voices.close()
            raise
        self.name = ENGINE
        self.sample_rate = SAMPLE_RATE
        self.voices: tuple[str, ...] = names
        """The voices file's voices, in file order."""
        self._forced = voice
        # npz members are read from the zip on each access: keep those in use, once each.
        self._styles: dict[str, npt.NDArray[np.float32]] = {}
        self._styles_lock = threading.Lock()
        self._threads = ThreadedSynthesis(ENGINE)

    def voice_for(self, voice: str) -> str:
        """The kokoro voice that speaks for a Realtime voice name."""
        return self._forced or kokoro_voice(voice, self.voices)

    def _style(self, name: str) -> npt.NDArray[np.float32]:
        with self._styles_lock:
            if name not in self._styles:
                self._styles[name] = np.asarray(self._kokoro.voices[name], dtype=np.float32)
            return self._styles[name]

    def _speak(self, text: str, voice: str, speed: float) -> Iterator[bytes]:
        lang = LANGUAGES.get(voice[:1], "en-us")
        style = self._style(voice)
        sentences = _sentences(text)
        pause = np.zeros(int(SENTENCE_PAUSE_S * SAMPLE_RATE), dtype=np.float32)
        for i, sentence in enumerate(sentences):
            phonemes = self._kokoro.tokenizer.phonemize(sentence, lang)
            if not phonemes.strip():  # nothing speakable (an emoji, a lone dash)
                continue
            audio, _ = self._kokoro.create(phonemes, voice=style, speed=speed, lang=lang,
                                           is_phonemes=True)
            yield pcm16(np.concatenate([audio, pause]) if i < len(sentences) - 1 else audio)

    async def synthesize(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        if not request.text.strip():
            return
        voice = self.voice_for(request.voice)
        speed = max(MIN_SPEED, min(MAX_SPEED, request.speed))
        async for pcm in self._threads.stream(lambda: self._speak(request.text, voice, speed)):
            if pcm:
                yield pcm

    async def aclose(self) -> None:
        await self._threads.aclose()
        self._kokoro.voices.close()  # kokoro-onnx keeps the voices file open to read styles
