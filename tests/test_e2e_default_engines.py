"""A fresh install's server, end to end through the official openai SDK: espeak speech in, the
embedded pocketsphinx transcript, an echo or scripted reply, and espeak speech out, with no other
server and no model download. The reply's audio is transcribed back to show it is speech.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from conftest import RealtimeClient, RunningServer, run_server
from events import only, types
from speech import chunks, silence, speech_pcm
from test_e2e_audio import audio_of

from openrealtime.audio.convert import Converter
from openrealtime.audio.spec import PCM16K, PCM24K
from openrealtime.config import load_settings
from openrealtime.engines.pocketsphinx_stt import PocketsphinxTranscriber
from openrealtime.engines.stt import TranscriptDone, TranscriptionRequest

Event = dict[str, Any]
# A sentence pocketsphinx gets reliably in espeak's en-us+f5 voice (see test_engine_pocketsphinx).
VOICE = "en-us+f5"
SAID = "what is the weather today"
KEYS = {"what", "weather", "today"}
# Realtime's "shimmer" speaks with en-us+f5, the voice pocketsphinx hears best.
REPLY_VOICE = "shimmer"
WAIT = 30.0


async def speak(client: RealtimeClient, text: str) -> None:
    pcm = silence(300) + speech_pcm(text, VOICE, 24000) + silence(900)
    for piece in chunks(pcm, 20):
        await client.send({"type": "input_audio_buffer.append",
                           "audio": base64.b64encode(piece).decode()})


async def spoken_turn(client: RealtimeClient) -> tuple[str, list[Event]]:
    """Configure transcription, speak SAID; the user's transcript and the turn's events."""
    await client.send({"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}},
                                      "output": {"voice": REPLY_VOICE}}}})
    updated = (await client.recv_until("session.updated"))[-1]["session"]
    assert updated["output_modalities"] == ["audio"]  # a TTS is on by default
    await speak(client, SAID)
    events = await client.recv_until("response.done", wait=WAIT)
    while "conversation.item.input_audio_transcription.completed" not in types(client.events):
        await client.recv(WAIT)
    heard = only(client.events, "conversation.item.input_audio_transcription.completed")
    return heard["transcript"], events


async def words_in(pcm24k: bytes) -> set[str]:
    """What pocketsphinx hears in 24 kHz audio."""
    converter = Converter(PCM24K, PCM16K)
    pcm16k = converter.convert(pcm24k) + converter.flush()
    stt = PocketsphinxTranscriber(workers=1)
    try:
        *_, done = [c async for c in stt.transcribe(
            TranscriptionRequest(pcm16k, 16000, "whisper-1"))]
    finally:
        await stt.aclose()
    assert isinstance(done, TranscriptDone)
    return set(done.text.split())


def assert_spoken_reply(events: list[Event], text: str) -> bytes:
    done = only(events, "response.done")["response"]
    assert done["status"] == "completed", done
    assert done["output"][0]["content"][0]["transcript"] == text
    assert "".join(e["delta"] for e in events
                   if e["type"] == "response.output_audio_transcript.delta") == text
    audio = audio_of(events)
    seconds = len(audio) / 48000
    # espeak speaks about 2.5 words a second; the reply is clearly speech-length audio.
    assert 0.2 * len(text.split()) < seconds < 1.5 * len(text.split()), seconds
    return audio


async def test_fresh_install_hears_transcribes_echoes_and_speaks(connect: Any) -> None:
    settings = load_settings({"port": "0"}, {})  # no engine flags at all
    async with run_server(settings) as port, connect(RunningServer(port)) as client:
        transcript, events = await spoken_turn(client)
    assert len(KEYS & set(transcript.split())) >= 2, transcript
    assert types(events)[:3] == ["input_audio_buffer.speech_started",
                                 "input_audio_buffer.speech_stopped",
                                 "input_audio_buffer.committed"]
    audio = assert_spoken_reply(events, f"You said: {transcript}")
    # The echo repeats the user's words; hearing them again in the reply proves it is speech.
    assert KEYS & await words_in(audio), "no key word heard in the spoken reply"


async def test_scripted_rules_answer_a_spoken_turn(connect: Any, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text('rules:\n  - match: "weather"\n    reply: "Sunny all day today."\n'
                     'default: "No rule matched."\n', encoding="utf-8")
    settings = load_settings({"port": "0", "llm_rules": str(rules)}, {})
    assert settings.llm == "scripted"
    async with run_server(settings) as port, connect(RunningServer(port)) as client:
        transcript, events = await spoken_turn(client)
    assert "weather" in transcript.split(), transcript
    audio = assert_spoken_reply(events, "Sunny all day today.")
    assert {"sunny", "day", "today"} & await words_in(audio)


async def test_realtime_voice_names_pick_different_espeak_voices(connect: Any) -> None:
    settings = load_settings({"port": "0", "asr_engine": "none"}, {})
    spoken = {}
    async with run_server(settings) as port:
        for voice in ("alloy", "verse"):
            async with connect(RunningServer(port)) as client:
                await client.send({"type": "session.update", "session": {
                    "type": "realtime", "audio": {"output": {"voice": voice}}}})
                await client.recv_until("session.updated")
                await client.send({"type": "conversation.item.create", "item": {
                    "type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "good morning"}]}})
                await client.send({"type": "response.create"})
                events = await client.recv_until("response.done", wait=WAIT)
            spoken[voice] = assert_spoken_reply(events, "You said: good morning")
    assert spoken["alloy"] != spoken["verse"]
