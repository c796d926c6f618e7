"""The piper engine, with the real piper-tts library and its bundled espeak-ng, on tiny random
voices (``tiny_tts_models``): streaming by sentence, speed, speakers, cancellation, errors."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openrealtime.engines.loading import EngineLoadError
from openrealtime.engines.local_tts import REALTIME_VOICES, stable_index
from openrealtime.engines.piper_tts import PiperSynthesizer
from openrealtime.engines.tts import SpeechRequest, TTSError

pytestmark = pytest.mark.tiny_models

TIMEOUT = 5.0
RATE = 16000  # not piper's usual 22050: the rate must come from the voice's config
SENTENCES = ("The quick brown fox jumps over the lazy dog. "
             "How many sentences does this text have? "
             "It has three, and each one is spoken on its own!")


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("piper")
    pytest.importorskip("onnx")
    from tiny_tts_models import build_piper_voice

    folder = tmp_path_factory.mktemp("piper")
    return {
        "single": build_piper_voice(folder, sample_rate=RATE),
        "multi": build_piper_voice(folder, name="tiny-random-piper-multi", num_speakers=4),
    }


@pytest.fixture
async def synth(voices: dict[str, Path]) -> AsyncIterator[PiperSynthesizer]:
    engine = PiperSynthesizer(str(voices["single"]))
    yield engine
    await engine.aclose()


@pytest.fixture
async def multi(voices: dict[str, Path]) -> AsyncIterator[PiperSynthesizer]:
    engine = PiperSynthesizer(str(voices["multi"]))
    yield engine
    await engine.aclose()


async def speak(engine: PiperSynthesizer, text: str, voice: str = "alloy",
                speed: float = 1.0) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [c async for c in engine.synthesize(SpeechRequest(text, voice, speed))]

    return await asyncio.wait_for(collect(), TIMEOUT)


def samples(chunks: list[bytes]) -> int:
    return sum(len(c) for c in chunks) // 2


async def test_speaks_each_sentence_as_a_chunk_at_the_voice_rate(
        synth: PiperSynthesizer) -> None:
    from tiny_tts_models import PIPER_SAMPLES_PER_ID

    assert synth.name == "piper" and synth.sample_rate == RATE
    chunks = await speak(synth, SENTENCES)
    assert len(chunks) == 3
    for chunk in chunks:
        # One model run per chunk: the tiny voice makes exactly this many samples per id.
        assert len(chunk) % (2 * PIPER_SAMPLES_PER_ID) == 0
        pcm = np.frombuffer(chunk, dtype="<i2")
        assert int(np.abs(pcm).max()) > 30000  # piper scales each sentence to full range
    # About 25 phonemes a second of speech, two ids (phoneme, pad) for each.
    assert 2.0 < samples(chunks) / RATE < 15.0
    one = await speak(synth, "The quick brown fox jumps over the lazy dog.")
    assert one == chunks[:1]  # the same sentence alone: the same audio


async def test_speed_scales_the_length(synth: PiperSynthesizer) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    normal = samples(await speak(synth, text))
    assert samples(await speak(synth, text, speed=2.0)) == normal // 2
    assert samples(await speak(synth, text, speed=0.5)) == normal * 2
    # Out-of-range speeds are clamped, not refused.
    assert samples(await speak(synth, text, speed=100.0)) == normal // 4


async def test_empty_text_yields_nothing(synth: PiperSynthesizer) -> None:
    assert await speak(synth, "") == []
    assert await speak(synth, "  \n ") == []


async def test_every_voice_name_speaks_with_a_one_speaker_voice(
        synth: PiperSynthesizer) -> None:
    assert synth.speaker_for("alloy") is None
    assert await speak(synth, "Hello there.", voice="cedar") == \
        await speak(synth, "Hello there.", voice="some-unknown-voice")


async def test_multi_speaker_voices_map_deterministically(multi: PiperSynthesizer) -> None:
    assert multi.num_speakers == 4
    assert [multi.speaker_for(v) for v in REALTIME_VOICES] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert multi.speaker_for("speaker_3") == 3  # a speaker's own name picks it
    assert multi.speaker_for("MARIN") == 0
    assert multi.speaker_for("nova") == stable_index("nova", 4) == multi.speaker_for("nova")
    # The mapping reaches the model: the tiny voice pitches each speaker differently.
    alloy, ash, cedar = [await speak(multi, "Hello there.", voice=v)
                         for v in ("alloy", "ash", "cedar")]
    assert alloy != ash and ash == cedar


async def test_a_forced_speaker_speaks_for_every_voice(voices: dict[str, Path]) -> None:
    by_name = PiperSynthesizer(str(voices["multi"]), speaker="speaker_2")
    by_id = PiperSynthesizer(str(voices["multi"]), speaker="2")
    try:
        assert {by_name.speaker_for(v) for v in REALTIME_VOICES} == {2}
        assert by_id.speaker_for("alloy") == 2
        assert await speak(by_name, "Hi.", voice="alloy") == \
            await speak(by_id, "Hi.", voice="ash")
    finally:
        await by_name.aclose()
        await by_id.aclose()
    with pytest.raises(EngineLoadError, match="no speaker 'nobody'.*speaker_0"):
        PiperSynthesizer(str(voices["multi"]), speaker="nobody")
    with pytest.raises(EngineLoadError, match="no speaker '4'"):
        PiperSynthesizer(str(voices["multi"]), speaker="4")
    with pytest.raises(EngineLoadError, match="single speaker"):
        PiperSynthesizer(str(voices["single"]), speaker="0")


async def test_concurrent_requests_get_their_own_audio(synth: PiperSynthesizer) -> None:
    texts = ["Hi.", "A somewhat longer sentence than that.", SENTENCES]
    alone = [await speak(synth, t) for t in texts]
    together = await asyncio.gather(*(speak(synth, t) for t in texts * 2))
    assert list(together) == alone * 2


async def test_cancelling_the_consumer_stops_the_work(
        synth: PiperSynthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    import piper
    from tiny_tts_models import Gate, check_cancel_stops_after_the_running_sentence

    # Every model run after the first waits for the test: the first sentence must come out
    # while the second is not even made, and nothing must start after the cancel.
    gate = Gate(free=1)
    monkeypatch.setattr(piper.PiperVoice, "phoneme_ids_to_audio",
                        gate.wrap(piper.PiperVoice.phoneme_ids_to_audio))
    await check_cancel_stops_after_the_running_sentence(
        synth, gate, " ".join(["One more sentence."] * 20), TIMEOUT)


async def test_a_failing_model_run_is_a_tts_error(
        synth: PiperSynthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    import piper

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the model ran out of luck\nsecond line")

    monkeypatch.setattr(piper.PiperVoice, "phoneme_ids_to_audio", broken)
    with pytest.raises(TTSError) as caught:
        await speak(synth, "Hello.")
    assert caught.value.code == "tts_engine_error"
    assert caught.value.message == "piper synthesis failed: the model ran out of luck"
    monkeypatch.undo()
    assert await speak(synth, "Hello.")  # the engine is still usable


async def test_a_closed_engine_refuses_work(voices: dict[str, Path]) -> None:
    engine = PiperSynthesizer(str(voices["single"]))
    await engine.aclose()
    with pytest.raises(TTSError, match="closed") as caught:
        await speak(engine, "Hello.")
    assert caught.value.code == "tts_engine_error"


def one_line(err: pytest.ExceptionInfo[EngineLoadError]) -> str:
    message = str(err.value)
    assert "\n" not in message and message.startswith("the piper engine")
    return message


def test_a_missing_model_says_where_to_get_one() -> None:
    pytest.importorskip("piper")
    with pytest.raises(EngineLoadError) as caught:
        PiperSynthesizer("en_US-lessac-medium")  # a voice name, not a file
    message = one_line(caught)
    assert "'en_US-lessac-medium' not found" in message
    assert "https://huggingface.co/rhasspy/piper-voices" in message
    assert "--tts-model" in message


def test_a_missing_config_names_the_file_expected(voices: dict[str, Path],
                                                  tmp_path: Path) -> None:
    lonely = tmp_path / "voice.onnx"
    lonely.write_bytes(voices["single"].read_bytes())
    with pytest.raises(EngineLoadError) as caught:
        PiperSynthesizer(str(lonely))
    assert f"{str(lonely) + '.json'!r} is missing" in one_line(caught)


@pytest.mark.parametrize("broken", ["config", "model"])
def test_a_broken_voice_is_one_line(voices: dict[str, Path], tmp_path: Path,
                                    broken: str) -> None:
    model = tmp_path / "voice.onnx"
    config = tmp_path / "voice.onnx.json"
    source = voices["single"]
    model.write_bytes(b"not onnx" if broken == "model" else source.read_bytes())
    config.write_text("{" if broken == "config" else
                      source.with_name(source.name + ".json").read_text(encoding="utf-8"),
                      encoding="utf-8")
    with pytest.raises(EngineLoadError) as caught:
        PiperSynthesizer(str(model))
    assert "cannot load the voice" in one_line(caught)


def test_without_the_extra_it_says_which_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "piper", None)  # import piper now fails
    with pytest.raises(EngineLoadError, match=r"pip install 'openrealtime\[piper\]'"):
        PiperSynthesizer("voice.onnx")
