"""Piper (``openrealtime[piper]``): natural local voices, fast on a CPU, one voice per model file.

A voice is a VITS model ``NAME.onnx`` with its config ``NAME.onnx.json`` beside it. Piper
phonemizes with the espeak-ng it bundles (its own library and data: no system package, no
network) and makes one piece of audio per sentence; each is yielded as soon as it is made.

Every Realtime voice name speaks with the model's voice. A model with several speakers gives
the Realtime voices its speakers in order (``alloy`` the first, ``ash`` the second, …, wrapping
around), a speaker's own name picks that speaker, and ``speaker`` forces one for every request.
``SpeechRequest.instructions`` is ignored: piper takes no style prompt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from .loading import EngineLoadError, first_line, require
from .local_tts import ThreadedSynthesis, model_file, stable_index
from .tts import SpeechRequest

ENGINE = "piper"
VOICES_URL = "https://huggingface.co/rhasspy/piper-voices"
MIN_SPEED, MAX_SPEED = 0.25, 4.0


class PiperSynthesizer:
    def __init__(self, model: str, *, speaker: str | None = None) -> None:
        """``model``: the path of a voice's ``.onnx`` (its ``.onnx.json`` beside it).
        ``speaker``: a speaker name or id of a multi-speaker model, used for every voice."""
        piper = require("piper", engine=ENGINE, extra="piper")
        path = model_file(ENGINE, model, download=VOICES_URL,
                          what="a voice (its .onnx and .onnx.json)")
        config = path.with_name(path.name + ".json")
        if not config.is_file():
            raise EngineLoadError(
                f"the {ENGINE} engine: the voice config {str(config)!r} is missing; every voice "
                f"at {VOICES_URL} comes as NAME.onnx and NAME.onnx.json: put both side by side")
        try:
            self._voice: Any = piper.PiperVoice.load(path, config_path=config)
        except Exception as err:  # bad JSON, a missing key, an ONNX file onnxruntime refuses
            raise EngineLoadError(f"the {ENGINE} engine: cannot load the voice {str(path)!r} "
                                  f"with {config.name}: {first_line(err)}") from None
        self._synthesis_config: Any = piper.SynthesisConfig
        cfg = self._voice.config
        self.name = ENGINE
        self.sample_rate: int = int(cfg.sample_rate)
        self.num_speakers: int = int(cfg.num_speakers)
        self._speaker_ids: dict[str, int] = {str(k): int(v)
                                             for k, v in cfg.speaker_id_map.items()}
        self._length_scale = float(cfg.length_scale)
        self._forced = None if speaker is None else self._speaker_id(speaker)
        self._threads = ThreadedSynthesis(ENGINE)

    def _speaker_id(self, speaker: str) -> int:
        if self.num_speakers <= 1:
            raise EngineLoadError(f"the {ENGINE} engine: speaker {speaker!r} was asked for, "
                                  f"but this voice has a single speaker")
        if speaker in self._speaker_ids:
            return self._speaker_ids[speaker]
        if speaker.isdigit() and int(speaker) < self.num_speakers:
            return int(speaker)
        names = ", ".join(list(self._speaker_ids)[:8]) or "none"
        raise EngineLoadError(
            f"the {ENGINE} engine: the voice has no speaker {speaker!r}; give a name (such as "
            f"{names}) or an id below {self.num_speakers}")

    def speaker_for(self, voice: str) -> int | None:
        """The speaker id that speaks for a Realtime voice name (``None``: a one-speaker model)."""
        if self.num_speakers <= 1:
            return None
        if self._forced is not None:
            return self._forced
        if voice in self._speaker_ids:
            return self._speaker_ids[voice]
        return stable_index(voice, self.num_speakers)

    async def synthesize(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        if not request.text.strip():
            return
        speed = max(MIN_SPEED, min(MAX_SPEED, request.speed))
        syn = self._synthesis_config(speaker_id=self.speaker_for(request.voice),
                                     length_scale=self._length_scale / speed)

        def sentences() -> Iterator[Any]:
            return iter(self._voice.synthesize(request.text, syn_config=syn))

        async for chunk in self._threads.stream(sentences):
            if pcm := chunk.audio_int16_array.astype("<i2").tobytes():
                yield pcm

    async def aclose(self) -> None:
        await self._threads.aclose()
