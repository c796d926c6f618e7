"""The kokoro engine, with the real kokoro-onnx library and espeak-ng phonemizer, on a tiny
random model and voices file (``tiny_tts_models``): streaming by sentence, speed, voice mapping,
cancellation, errors."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openrealtime.engines.kokoro_tts import (
    REALTIME_TO_KOKORO,
    SAMPLE_RATE,
    SENTENCE_PAUSE_S,
    KokoroSynthesizer,
    kokoro_voice,
)
from openrealtime.engines.loading import EngineLoadError
from openrealtime.engines.local_tts import REALTIME_VOICES
from openrealtime.engines.tts import SpeechRequest, TTSError

pytestmark = pytest.mark.tiny_models

TIMEOUT = 5.0
VOICES = ["af_bella", "af_heart", "am_adam", "af_alloy", "bf_emma"]  # file order matters
SENTENCES = ("The quick brown fox jumps over the lazy dog. "
             "How many sentences does this text have? "
             "It has three, and each one is spoken on its own!")
# Kokoro v1.0's English voices: every name the mapping tries must be one of them.
KOKORO_V1_ENGLISH = {
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole",
    "af_nova", "af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir",
    "am_liam", "am_michael", "am_onyx", "am_puck", "am_santa", "bf_alice", "bf_emma",
    "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george", "bm_lewis"}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("kokoro_onnx")
    pytest.importorskip("onnx")
    from tiny_tts_models import (
        build_kokoro_model,
        build_kokoro_voices,
    )

    folder = tmp_path_factory.mktemp("kokoro")
    build_kokoro_voices(folder / "voices-tiny-random.bin", VOICES)
    return build_kokoro_model(folder / "tiny-random-kokoro.onnx")


@pytest.fixture
async def synth(model: Path) -> AsyncIterator[KokoroSynthesizer]:
    engine = KokoroSynthesizer(str(model))
    yield engine
    await engine.aclose()


async def speak(engine: KokoroSynthesizer, text: str, voice: str = "alloy",
                speed: float = 1.0) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [c async for c in engine.synthesize(SpeechRequest(text, voice, speed))]

    return await asyncio.wait_for(collect(), TIMEOUT)


def samples(chunks: list[bytes]) -> int:
    return sum(len(c) for c in chunks) // 2


async def test_speaks_each_sentence_as_a_chunk(synth: KokoroSynthesizer) -> None:
    assert synth.name == "kokoro" and synth.sample_rate == SAMPLE_RATE == 24000
    assert synth.voices == tuple(VOICES)
    chunks = await speak(synth, SENTENCES)
    assert len(chunks) == 3
    pause = int(SENTENCE_PAUSE_S * SAMPLE_RATE)
    for i, chunk in enumerate(chunks):
        assert len(chunk) % 2 == 0
        pcm = np.frombuffer(chunk, dtype="<i2")
        assert int(np.abs(pcm).max()) > 3000
        # Sentences are joined by kokoro-onnx's pause; none trails the last.
        tail = pcm[-pause:]
        assert not tail.any() if i < 2 else tail.any()
    # The tiny model makes 50 ms per phoneme: a few seconds for three sentences.
    assert 3.0 < samples(chunks) / SAMPLE_RATE < 15.0


async def test_a_short_piece_joins_the_next_sentence(synth: KokoroSynthesizer) -> None:
    # "Dr." is too short to stand alone, and "3.5" ends no sentence: one sentence, one chunk.
    assert len(await speak(synth, "Dr. Smith paid 3.5 dollars for a ticket to the show.")) == 1
    assert len(await speak(synth, "Yes. " + SENTENCES)) == 3


async def test_speed_scales_the_length(synth: KokoroSynthesizer) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    normal = samples(await speak(synth, text))
    assert samples(await speak(synth, text, speed=2.0)) == pytest.approx(normal / 2, rel=0.02)
    slow = samples(await speak(synth, text, speed=0.5))
    assert slow == pytest.approx(normal * 2, rel=0.02)
    # Beyond what kokoro accepts (0.5 to 2), speeds are clamped, not refused.
    assert samples(await speak(synth, text, speed=0.25)) == slow


async def test_empty_text_yields_nothing(synth: KokoroSynthesizer) -> None:
    assert await speak(synth, "") == []
    assert await speak(synth, " \n\t") == []


def test_every_realtime_voice_has_kokoro_voices() -> None:
    assert set(REALTIME_TO_KOKORO) == set(REALTIME_VOICES)
    for choices in REALTIME_TO_KOKORO.values():
        assert choices and set(choices) <= KOKORO_V1_ENGLISH


def test_voice_mapping() -> None:
    assert kokoro_voice("alloy", VOICES) == "af_alloy"
    assert kokoro_voice("ALLOY", VOICES) == "af_alloy"
    assert kokoro_voice("marin", VOICES) == "af_heart"
    assert kokoro_voice("ash", VOICES) == "am_adam"
    assert kokoro_voice("sage", VOICES) == "bf_emma"  # af_sarah and af_nicole are not there
    assert kokoro_voice("echo", VOICES) == "af_bella"  # no male voice it tries: the first
    assert kokoro_voice("someone", VOICES) == "af_bella"
    assert kokoro_voice("bf_emma", VOICES) == "bf_emma"  # a kokoro name passes through


async def test_the_mapped_voice_is_the_one_that_speaks(
        synth: KokoroSynthesizer, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kokoro_onnx.tokenizer import Tokenizer

    languages: list[str] = []
    phonemize = Tokenizer.phonemize

    def spy(self: Any, text: str, lang: str = "en-us", norm: bool = True) -> str:
        languages.append(lang)
        return phonemize(self, text, lang, norm)

    monkeypatch.setattr(Tokenizer, "phonemize", spy)
    text = "Hello there, how are you?"
    alloy, af_alloy, marin, emma = [await speak(synth, text, voice=v)
                                    for v in ("alloy", "af_alloy", "marin", "bf_emma")]
    assert alloy == af_alloy and alloy != marin  # the tiny model pitches each style apart
    assert languages == ["en-us", "en-us", "en-us", "en-gb"]  # a voice's letter: its accent
    assert emma != alloy

    forced = KokoroSynthesizer(str(model), voice="af_heart")
    try:
        assert {forced.voice_for(v) for v in REALTIME_VOICES} == {"af_heart"}
        assert await speak(forced, text, voice="echo") == marin
    finally:
        await forced.aclose()


async def test_cancelling_the_consumer_stops_the_work(
        synth: KokoroSynthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    import kokoro_onnx
    from tiny_tts_models import Gate, check_cancel_stops_after_the_running_sentence

    # Every sentence after the first waits for the test: the first must come out while the
    # second is not even made, and nothing must start after the cancel.
    gate = Gate(free=1)
    monkeypatch.setattr(kokoro_onnx.Kokoro, "create", gate.wrap(kokoro_onnx.Kokoro.create))
    await check_cancel_stops_after_the_running_sentence(
        synth, gate, " ".join(["This sentence is long enough to stand alone."] * 20), TIMEOUT)


async def test_a_failing_model_run_is_a_tts_error(
        synth: KokoroSynthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    import kokoro_onnx

    def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("no phonemes left\nsecond line")

    monkeypatch.setattr(kokoro_onnx.Kokoro, "create", broken)
    with pytest.raises(TTSError) as caught:
        await speak(synth, "Hello.")
    assert caught.value.code == "tts_engine_error"
    assert caught.value.message == "kokoro synthesis failed: no phonemes left"
    monkeypatch.undo()
    assert await speak(synth, "Hello.")  # the engine is still usable


def one_line(err: pytest.ExceptionInfo[EngineLoadError]) -> str:
    message = str(err.value)
    assert "\n" not in message and message.startswith("the kokoro engine")
    return message


def test_a_missing_model_says_where_to_get_one() -> None:
    pytest.importorskip("kokoro_onnx")
    with pytest.raises(EngineLoadError) as caught:
        KokoroSynthesizer("hexgrad/Kokoro-82M")  # a hub name, not a file
    message = one_line(caught)
    assert "'hexgrad/Kokoro-82M' not found" in message
    assert "https://github.com/thewh1teagle/kokoro-onnx/releases" in message
    assert "--tts-model" in message


@pytest.fixture
def bare_model(model: Path, tmp_path: Path) -> Path:
    """The tiny model alone in a folder."""
    alone = tmp_path / "kokoro.onnx"
    alone.write_bytes(model.read_bytes())
    return alone


def test_a_missing_voices_file_says_where_to_get_one(bare_model: Path) -> None:
    with pytest.raises(EngineLoadError) as caught:
        KokoroSynthesizer(str(bare_model))
    assert "no voices file (voices*.bin) beside" in one_line(caught)
    assert "voices-v1.0.bin from https://github.com/thewh1teagle" in str(caught.value)
    with pytest.raises(EngineLoadError) as caught:
        KokoroSynthesizer(str(bare_model), voices=str(bare_model.with_name("voices-v1.0.bin")))
    assert "voices-v1.0.bin' not found" in one_line(caught)
    assert "--tts-voices" in str(caught.value)


async def test_two_voices_files_beside_the_model_need_a_choice(model: Path,
                                                              bare_model: Path) -> None:
    voices = next(model.parent.glob("voices*.bin"))
    for name in ("voices-a.bin", "voices-b.bin"):
        await asyncio.to_thread(shutil.copy, voices, bare_model.with_name(name))
    with pytest.raises(EngineLoadError) as caught:
        KokoroSynthesizer(str(bare_model))
    assert "several voices files beside the model (voices-a.bin, voices-b.bin)" in \
        one_line(caught)
    picked = KokoroSynthesizer(str(bare_model), voices=str(bare_model.with_name("voices-b.bin")))
    assert picked.voices == tuple(VOICES)
    await picked.aclose()


def test_a_forced_voice_must_be_in_the_file(model: Path) -> None:
    with pytest.raises(EngineLoadError) as caught:
        KokoroSynthesizer(str(model), voice="am_nobody")
    assert "has no voice 'am_nobody'; it has af_bella, af_heart" in one_line(caught)


def test_a_broken_voices_file_is_one_line(model: Path, tmp_path: Path) -> None:
    voices = tmp_path / "voices.bin"
    voices.write_bytes(b"not a voices file")
    with pytest.raises(EngineLoadError) as caught:
        KokoroSynthesizer(str(model), voices=str(voices))
    assert "cannot load" in one_line(caught)


def test_without_the_extra_it_says_which_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kokoro_onnx", None)  # import kokoro_onnx now fails
    with pytest.raises(EngineLoadError, match=r"pip install 'openrealtime\[kokoro\]'"):
        KokoroSynthesizer("kokoro.onnx")
