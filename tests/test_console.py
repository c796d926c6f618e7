"""The browser console at ``/``, driven in Debian's Chromium against the real server.

Chromium's fake microphone plays an espeak WAV once (``%noloop``, then silence) in real time,
so the page captures, resamples and appends it exactly as it would a person's voice. Behind
the server are the HTTP speech backends (their transcripts are queued answers) and the fixture
LLM, which replies X to "say: X". Waits are on page conditions, never fixed sleeps.
"""

from __future__ import annotations

import importlib.util
import re
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import AudioServer, RunningServer
from speech import silence, speech_pcm

pytest.importorskip("playwright.async_api")
from playwright.async_api import Page, async_playwright, expect  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")

MIC_RATE = 48000  # what Chromium's fake capture device reads best: 16-bit PCM mono
WAIT_MS = 20_000
STORY = ("Once upon a time there was a little robot who loved to sing songs about the stars, "
         "the sea and the long roads between the mountains, and every night it sang them all.")


def write_mic(path: Path, *parts: str | int) -> Path:
    """A WAV for the fake microphone: ints are silence in ms, strings are spoken."""
    pcm = b"".join(silence(p, MIC_RATE) if isinstance(p, int) else speech_pcm(p, rate=MIC_RATE)
                   for p in parts)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(MIC_RATE)
        out.writeframes(pcm)
    return path


def wav_ms(path: Path) -> int:
    with wave.open(str(path)) as w:
        return int(w.getnframes() * 1000 // w.getframerate())


@asynccontextmanager
async def console(server: RunningServer, mic: Path) -> AsyncIterator[Page]:
    """The console page of ``server`` in a fresh Chromium whose microphone plays ``mic``."""
    errors: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={mic}%noloop"])
        try:
            page = await browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.on("pageerror", lambda err: errors.append(str(err)))
            await page.goto(f"{server.http_base}/")
            yield page
        finally:
            await browser.close()
    assert not errors, errors  # an exception in the page's script fails the test


def in_log(page: Page, kind: str, direction: str = "in") -> Any:
    return page.locator(f'#log .entry[data-type="{kind}"][data-dir="{direction}"]')


async def stat(page: Page, name: str) -> Any:
    return await page.evaluate(f"window.__console.stats.{name}")


async def last_event(page: Page, kind: str) -> Any:
    return await page.evaluate("kind => window.__console.last[kind]", kind)


async def connect_push_to_talk(page: Page) -> None:
    await page.select_option("#turn-detection", "none")
    await page.click("#connect")
    await expect(page.locator("#mode-hint")).to_contain_text("Push to talk")


async def test_hands_free_turn_shows_transcripts_plays_the_reply_and_truncates_on_barge_in(
        audio_server: AudioServer, tmp_path: Path) -> None:
    assert audio_server.asr is not None and audio_server.backend is not None
    audio_server.asr.answers.extend([f"say: {STORY}", "say: Okay."])
    # The second utterance starts while the (long) first reply is still playing.
    mic = write_mic(tmp_path / "mic.wav", 400, "hello there", 3500, "wait, stop", 1500)
    async with console(audio_server, mic) as page:
        assert await page.input_value("#url") == (
            f"ws://127.0.0.1:{audio_server.port}/v1/realtime?model=gpt-realtime")
        await page.click("#connect")
        await expect(page.locator("#status")).to_have_text("connected (WebSocket)")

        users = page.locator('.turn[data-role="user"]')
        assistants = page.locator('.turn[data-role="assistant"]')
        await expect(users.first).to_have_text(f"say: {STORY}")
        await expect(assistants.first).to_have_text(STORY)
        await page.wait_for_function("window.__console.stats.playedMs > 200")

        # The user talks over the reply: playback stops and the server learns what was heard.
        await expect(assistants.first).to_have_class(re.compile(r"\btruncated\b"))
        await expect(assistants.nth(1)).to_have_text("Okay.")
        await expect(users.nth(1)).to_have_text("say: Okay.")
        for kind in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                     "input_audio_buffer.committed", "response.done",
                     "conversation.item.truncated"):
            await expect(in_log(page, kind).first).to_be_attached()
        await expect(in_log(page, "conversation.item.truncate", "out")).to_have_count(1)
        await expect(in_log(page, "response.done")).to_have_count(2)

        cut = (await stat(page, "truncations"))[0]
        truncated = await last_event(page, "conversation.item.truncated")
        assert truncated["item_id"] == cut["item_id"]
        assert truncated["audio_end_ms"] == cut["audio_end_ms"]
        story_ms = len(speech_pcm(STORY)) // 48
        assert 200 < cut["audio_end_ms"] < story_ms  # heard some of it, not all
        assert await stat(page, "scheduledBytes") > cut["audio_end_ms"] * 48

    # The mic reached the server as 24 kHz PCM16: the first turn's audio is as long as it was.
    first_upload = audio_server.asr.requests[0]
    spoken = len(speech_pcm("hello there")) / 48000
    assert spoken < first_upload.seconds < spoken + 1.2
    # The model remembers only the part of the story that was played.
    assistant = [m for m in audio_server.backend.last["messages"] if m["role"] == "assistant"]
    assert len(assistant) == 1 and STORY.startswith(assistant[0]["content"])
    assert len(assistant[0]["content"]) < len(STORY)


async def test_push_to_talk_appends_while_held_then_commits_and_asks_for_a_reply(
        audio_server: AudioServer, tmp_path: Path) -> None:
    assert audio_server.asr is not None and audio_server.backend is not None
    audio_server.asr.answers.append("say: Noted.")
    mic = write_mic(tmp_path / "mic.wav", 200, "remember the milk", 300)
    async with console(audio_server, mic) as page:
        await connect_push_to_talk(page)
        assert await stat(page, "appends") == 0  # nothing is sent until the key is held
        await page.keyboard.down("Space")
        await expect(page.locator("#ptt")).to_have_class(re.compile(r"\bheld\b"))
        # Hold until the whole recording has been captured (the fake mic then goes silent).
        await page.wait_for_function(
            f"window.__console.stats.appendedBytes >= {48 * wav_ms(mic)}")
        await page.keyboard.up("Space")
        appended = await stat(page, "appendedBytes")

        await expect(page.locator('.turn[data-role="assistant"]')).to_have_text("Noted.")
        await expect(page.locator('.turn[data-role="user"]')).to_have_text("say: Noted.")
        await expect(in_log(page, "input_audio_buffer.commit", "out")).to_have_count(1)
        await expect(in_log(page, "response.create", "out")).to_have_count(1)
        await expect(in_log(page, "response.done")).to_have_count(1)
        assert await in_log(page, "input_audio_buffer.speech_started").count() == 0
        assert await stat(page, "appendedBytes") == appended  # released: no more audio
        await page.wait_for_function("window.__console.stats.playedMs > 100")

    # What the page appended is what the server committed and transcribed.
    assert abs(audio_server.asr.last.seconds - appended / 48000) < 0.01
    assert audio_server.backend.last["messages"][-1]["role"] == "user"


async def test_typed_message_and_the_stop_button_cut_the_reply_where_it_was_heard(
        audio_server: AudioServer, tmp_path: Path) -> None:
    assert audio_server.backend is not None
    async with console(audio_server, write_mic(tmp_path / "mic.wav", 200)) as page:
        await connect_push_to_talk(page)
        await page.fill("#text", f"say: {STORY}")
        await page.press("#text", "Enter")
        await expect(page.locator('.turn[data-role="user"]')).to_have_text(f"say: {STORY}")
        assistant = page.locator('.turn[data-role="assistant"]')
        await expect(assistant).to_have_text(STORY)
        await page.wait_for_function("window.__console.stats.playedMs > 300")
        await page.click("#interrupt")
        await expect(assistant).to_have_class(re.compile(r"\btruncated\b"))
        cut = (await stat(page, "truncations"))[0]
        assert (await last_event(page, "conversation.item.truncated"))["audio_end_ms"] == (
            cut["audio_end_ms"])
        assert 300 <= cut["audio_end_ms"] < len(speech_pcm(STORY)) // 48
        played = await stat(page, "playedMs")
        await expect(in_log(page, "conversation.item.truncate", "out")).to_have_count(1)
        assert await stat(page, "playedMs") == played  # playback stopped

        await page.fill("#text", "say: Done.")
        await page.press("#text", "Enter")
        await expect(assistant.nth(1)).to_have_text("Done.")
    heard = [m["content"] for m in audio_server.backend.last["messages"]
             if m["role"] == "assistant"]
    assert len(heard) == 1 and STORY.startswith(heard[0]) and len(heard[0]) < len(STORY)


async def test_settings_form_updates_the_session_and_problems_show_in_the_page(
        audio_server: AudioServer, tmp_path: Path) -> None:
    async with console(audio_server, write_mic(tmp_path / "mic.wav", 200)) as page:
        await connect_push_to_talk(page)
        await expect(in_log(page, "session.updated")).to_have_count(1)
        await page.fill("#instructions", "Talk like a pirate.")
        await page.select_option("#voice", "ash")
        await page.select_option("#modalities", "text")
        await page.fill("#transcription", "whisper-1")
        await page.select_option("#turn-detection", "semantic_vad")
        await page.click("#apply")
        updated = in_log(page, "session.updated")
        await expect(updated).to_have_count(2)
        session = await page.evaluate("window.__console.session")
        assert session["instructions"] == "Talk like a pirate."
        assert session["audio"]["output"]["voice"] == "ash"
        assert session["output_modalities"] == ["text"]
        assert session["audio"]["input"]["transcription"]["model"] == "whisper-1"
        assert session["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
        await expect(page.locator("#mode-hint")).to_contain_text("Hands-free")
        await updated.nth(1).locator("summary").click()  # the JSON shows when opened
        await expect(updated.nth(1).locator("pre")).to_contain_text("Talk like a pirate.")

        # Text output: the reply streams as text deltas into the transcript.
        await page.fill("#text", "say: Arr, matey.")
        await page.press("#text", "Enter")
        await expect(page.locator('.turn[data-role="assistant"]')).to_have_text("Arr, matey.")
        await expect(in_log(page, "response.output_text.delta").first).to_be_attached()

        # The filter hides every other event type.
        await page.fill("#filter", "session.updated")
        await expect(page.locator("#log .entry:not(.hidden)")).to_have_count(2)
        await page.fill("#filter", "")

        # A mistake in the form is reported and nothing is sent.
        await page.fill("#tools", "[{not json")
        await page.click("#apply")
        await expect(page.locator("#errors")).to_contain_text("Tools: not valid JSON")
        await expect(in_log(page, "session.update", "out")).to_have_count(2)

        # The server's error events are shown too: a commit with no audio.
        await page.fill("#tools", "")
        await page.select_option("#turn-detection", "none")
        await page.click("#apply")
        await expect(page.locator("#ptt")).to_be_enabled()
        await page.evaluate("document.activeElement.blur()")
        await page.keyboard.down("Space")
        await page.keyboard.up("Space")
        await expect(page.locator("#errors")).to_contain_text("input_audio_buffer_commit_empty")


async def test_the_api_key_goes_in_the_browser_subprotocol(
        secured_server: RunningServer, tmp_path: Path) -> None:
    assert secured_server.api_key is not None
    async with console(secured_server, write_mic(tmp_path / "mic.wav", 200)) as page:
        await page.fill("#api-key", "wrong-key")
        await page.click("#connect")
        await expect(page.locator("#status")).to_have_text("disconnected (error)")
        await expect(page.locator("#errors")).to_contain_text("Incorrect API key provided.")

        await page.fill("#api-key", secured_server.api_key)
        await page.click("#connect")
        await expect(page.locator("#status")).to_have_text("connected (WebSocket)")
        await expect(page.locator("#errors")).to_be_empty()
        await expect(in_log(page, "session.updated")).to_have_count(1)
        await page.click("#connect")  # disconnect
        await expect(page.locator("#status")).to_have_text("disconnected")


@pytest.mark.skipif(
    importlib.util.find_spec("openrealtime.transports.webrtc") is None
    or importlib.util.find_spec("aiortc") is None,
    reason="needs the server's WebRTC transport (aiortc, the webrtc extra)")
async def test_webrtc_mode_sends_the_mic_as_a_track_and_plays_the_remote_audio(
        audio_server: AudioServer, tmp_path: Path) -> None:
    assert audio_server.asr is not None
    audio_server.asr.answers.append("say: Hello over WebRTC.")
    mic = write_mic(tmp_path / "mic.wav", 600, "hello there", 1500)
    async with console(audio_server, mic) as page:
        await page.select_option("#transport", "webrtc")
        await page.click("#connect")
        await expect(page.locator("#status")).to_have_text("connected (WebRTC)")
        await expect(page.locator('.turn[data-role="user"]')).to_have_text(
            "say: Hello over WebRTC.")
        await expect(page.locator('.turn[data-role="assistant"]')).to_have_text(
            "Hello over WebRTC.")
        for kind in ("session.updated", "input_audio_buffer.speech_started",
                     "output_audio_buffer.started", "response.done"):
            await expect(in_log(page, kind).first).to_be_attached()
        # Audio travels as media, not as events, both ways.
        assert await in_log(page, "input_audio_buffer.append", "out").count() == 0
        assert await in_log(page, "response.output_audio.delta").count() == 0
        remote = await page.evaluate("""() => {
            const a = document.getElementById("remote-audio");
            return {tracks: a.srcObject ? a.srcObject.getAudioTracks().length : 0,
                    paused: a.paused}; }""")
        assert remote == {"tracks": 1, "paused": False}
