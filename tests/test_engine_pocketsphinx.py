"""The pocketsphinx speech-to-text engine on real (espeak) speech: what it recognises, what it
must not hear in silence and noise, concurrency, odd input, model folders; and the round trip
from the espeak speech engine to it.

pocketsphinx's accuracy on espeak is modest, so the sentences are ones it gets reliably (with
espeak's ``en-us+f5`` voice: every key word in every one of 36 trials), and the checks count key
words over several sentences with some slack: noise in one sentence does not fail a test, a
recogniser that hears nothing or something else does.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from speech import silence, speech_pcm

from openrealtime.audio.convert import Converter
from openrealtime.audio.spec import AudioSpec
from openrealtime.engines.espeak_tts import EspeakSynthesizer
from openrealtime.engines.loading import EngineLoadError
from openrealtime.engines.stt import STTError, TranscriptDelta, TranscriptDone, TranscriptionRequest
from openrealtime.engines.tts import SpeechRequest

pocketsphinx = pytest.importorskip("pocketsphinx")
from openrealtime.engines.pocketsphinx_stt import PocketsphinxTranscriber  # noqa: E402

TIMEOUT = 20.0
VOICE = "en-us+f5"
SENTENCES = {
    "one two three four five": {"two", "three", "four", "five"},
    "what is the weather today": {"what", "weather", "today"},
    "please call me tomorrow": {"please", "tomorrow"},
}
ALL_KEYS = set().union(*SENTENCES.values())


@pytest.fixture(scope="module")
def stt() -> Iterator[PocketsphinxTranscriber]:
    engine = PocketsphinxTranscriber(workers=2)
    yield engine
    asyncio.run(engine.aclose())


async def transcribe(stt: PocketsphinxTranscriber, pcm: bytes, rate: int = 16000,
                     language: str | None = None) -> TranscriptDone:
    async def run() -> TranscriptDone:
        chunks = [c async for c in stt.transcribe(
            TranscriptionRequest(pcm, rate, "whisper-1", language=language))]
        *deltas, done = chunks
        assert isinstance(done, TranscriptDone)
        assert all(isinstance(d, TranscriptDelta) for d in deltas)
        assert "".join(d.text for d in deltas) == done.text  # one delta, the whole text
        assert done.duration_s == pytest.approx(len(pcm) // 2 / rate)
        return done
    return await asyncio.wait_for(run(), TIMEOUT)


def found(transcripts: dict[str, str]) -> int:
    """How many of the sentences' key words their transcripts hold."""
    return sum(len(SENTENCES[text] & set(heard.split())) for text, heard in transcripts.items())


async def test_recognises_espeak_speech(stt: PocketsphinxTranscriber) -> None:
    assert stt.name == "pocketsphinx" and stt.sample_rate == 16000
    heard = {text: (await transcribe(stt, speech_pcm(text, VOICE, 16000))).text
             for text in SENTENCES}
    assert found(heard) >= 7, heard  # of 9


async def test_hears_none_of_the_words_in_silence_or_noise(
        stt: PocketsphinxTranscriber) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(32000) / 16000
    noises = {
        "silence": silence(2000, 16000),
        "white noise": rng.normal(0, 3000, 32000).astype("<i2").tobytes(),
        "hum": (6000 * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes(),
    }
    for name, pcm in noises.items():
        heard = (await transcribe(stt, pcm)).text
        assert not ALL_KEYS & set(heard.split()), (name, heard)
    assert (await transcribe(stt, noises["silence"])).text == ""


async def test_empty_and_very_short_audio_is_an_empty_transcript(
        stt: PocketsphinxTranscriber) -> None:
    for pcm in (b"", b"\x01", silence(50, 16000), speech_pcm("hi", VOICE, 16000)[:3000]):
        done = await transcribe(stt, pcm)
        assert done.text == ""


async def test_audio_at_another_rate_and_another_language(
        stt: PocketsphinxTranscriber) -> None:
    # The runtime sends 16 kHz; anything else is resampled here rather than misheard.
    heard = {text: (await transcribe(stt, speech_pcm(text, VOICE, 24000), rate=24000,
                                     language="de")).text
             for text in SENTENCES}
    assert found(heard) >= 7, heard


async def test_concurrent_transcriptions_each_get_their_own_words(
        stt: PocketsphinxTranscriber) -> None:
    texts = list(SENTENCES) * 2
    dones = await asyncio.gather(
        *(transcribe(stt, speech_pcm(text, VOICE, 16000)) for text in texts))
    heard = [d.text for d in dones]
    # The same audio gives the same words, whichever decoder and whatever came before.
    assert heard[:3] == heard[3:]
    assert found(dict(zip(texts, heard, strict=False))) >= 7, heard
    for text, words in zip(texts, heard, strict=True):
        others = ALL_KEYS - SENTENCES[text]
        assert not others & set(words.split()), (text, words)  # no words of another


async def test_a_cancelled_transcription_frees_its_worker() -> None:
    stt = PocketsphinxTranscriber(workers=1)
    try:
        # Two minutes of speech: some twenty seconds of decoding, in pieces of up to 10 s.
        long = b"".join(speech_pcm(text, VOICE, 16000) + silence(300, 16000)
                        for text in SENTENCES) * 25
        task = asyncio.create_task(transcribe(stt, long))

        async def decoding() -> None:
            # The first piece is with the worker process once the engine counts it.
            while not stt.decoding:  # noqa: ASYNC110
                await asyncio.sleep(0.001)

        await asyncio.wait_for(decoding(), TIMEOUT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The one worker is free again after the piece it was decoding, not the two minutes.
        done = await asyncio.wait_for(
            transcribe(stt, speech_pcm("please call me tomorrow", VOICE, 16000)), 8.0)
        assert "tomorrow" in done.text
    finally:
        await stt.aclose()
    with pytest.raises(STTError) as err:
        await transcribe(stt, speech_pcm("please call me tomorrow", VOICE, 16000))
    assert err.value.code == "stt_engine_error"


def test_a_model_folder() -> None:
    own = os.path.join(pocketsphinx.get_model_path(), "en-us")
    assert PocketsphinxTranscriber(model_dir=own, workers=1).name == "pocketsphinx"
    assert PocketsphinxTranscriber(model_dir=os.path.join(own, "en-us"), workers=1)


def test_a_bad_model_folder_fails_to_load(tmp_path: Path) -> None:
    for where in (os.path.join(str(tmp_path), "missing"), str(tmp_path)):
        with pytest.raises(EngineLoadError) as err:
            PocketsphinxTranscriber(model_dir=where)
        assert where in str(err.value) and "\n" not in str(err.value)


async def test_espeak_speech_round_trip(stt: PocketsphinxTranscriber) -> None:
    tts = EspeakSynthesizer()
    try:
        heard = {}
        for text in SENTENCES:
            conv = Converter(AudioSpec("pcm16", tts.sample_rate), AudioSpec("pcm16", 16000))
            pcm = b""
            async for chunk in tts.synthesize(SpeechRequest(text, "shimmer")):
                pcm += conv.convert(chunk)
            heard[text] = (await transcribe(stt, pcm + conv.flush())).text
        assert found(heard) >= 6, heard  # shimmer speaks faster and higher: a little slack
    finally:
        await tts.aclose()
