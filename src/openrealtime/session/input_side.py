"""The input side of a session: the audio buffer, turn detection and the idle timeout.

It decides *when* a user turn is committed (by hand, at the end of detected speech, or when the
idle timeout fires) and hands the audio to its ``InputHost`` (the session), which makes the
conversation item, asks for its transcription and starts the automatic response.

VAD runs outside the core: each append with turn detection on becomes a ``DetectSpeech``
effect, and the probabilities come back as a result, frame by frame, in order. An ``epoch``
number tells results of an earlier stream (before a format or turn detection change) apart.
"""

from __future__ import annotations

import binascii
from typing import Protocol

import msgspec

from ..audio.spec import AudioSpec
from ..protocol import errors
from ..protocol import server_events as ev
from ..protocol.errors import ClientError
from ..protocol.session_types import AudioInput, ServerVad, TurnDetection
from .effects import DetectSpeech, Effect, SpeechProbabilities
from .input_audio import InputBuffer, spec_of
from .limits import Limits
from .turns import SpeechStarted, SpeechStopped, TurnDetector

MIN_COMMIT_MS = 100


class InputHost(Protocol):
    def emit(self, event: ev.ServerEvent) -> None: ...
    def effect(self, effect: Effect) -> None: ...
    def new_id(self, prefix: str) -> str: ...
    def commit_audio(self, item_id: str, audio: bytes, spec: AudioSpec) -> None:
        """Make the committed user audio item (and its transcription)."""
    def speech_started(self) -> None:
        """Barge-in: the user started talking."""
    def turn_ended(self) -> None:
        """A turn was committed by the server: answer it if the config says so."""


class InputSide:
    def __init__(self, host: InputHost, config: AudioInput, limits: Limits) -> None:
        self._host = host
        self._limits = limits
        self.buffer = InputBuffer(_spec(config))
        self.turn_detection: TurnDetection | None = None
        self._detector: TurnDetector | None = None
        self._epoch = 0
        self._vad_ms = 0.0  # where the next VAD frame starts on the audio timeline
        self._turn_item: str | None = None
        self._turn_start_ms = 0.0
        self.idle_deadline: float | None = None
        self.configure(config)

    def configure(self, config: AudioInput) -> None:
        """Apply the (new) input config. A format or turn detection change restarts VAD."""
        spec = _spec(config)
        td = config.turn_detection
        assert not isinstance(td, msgspec.UnsetType)
        if spec == self.buffer.spec and td == self.turn_detection:
            return
        self.buffer.set_spec(spec)
        self.turn_detection = td
        self._detector = None if td is None else TurnDetector(td)
        self._turn_item = None
        self._epoch += 1
        self._vad_ms = self.buffer.end_ms
        if not isinstance(td, ServerVad) or td.idle_timeout_ms is None:
            self.idle_deadline = None

    # --- client events --------------------------------------------------------------------

    def append(self, audio_b64: str) -> None:
        if len(audio_b64) > self._limits.max_append_b64:
            raise ClientError("Audio append exceeds the 15 MiB limit per event.", param="audio")
        try:
            chunk = binascii.a2b_base64(audio_b64, strict_mode=True)
        except (binascii.Error, ValueError):
            raise ClientError("Invalid 'audio': not valid base64.", param="audio") from None
        spec = self.buffer.spec
        if self.buffer.duration_ms + spec.duration_ms(len(chunk)) > self._limits.max_buffer_ms:
            raise ClientError(
                f"The input audio buffer is full ({self._limits.max_buffer_ms // 1000} s); "
                "commit or clear it before appending more.",
                code="input_audio_buffer_full", param="audio")
        self.buffer.append(chunk)
        if self._detector is not None and chunk:
            self._host.effect(DetectSpeech(self._epoch, chunk, spec))

    def commit(self) -> None:
        ms = self.buffer.duration_ms
        if ms < MIN_COMMIT_MS:
            raise ClientError(
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms:.2f}ms of audio.",
                code=errors.COMMIT_EMPTY)
        # A manual commit mid-speech takes the speech with it; the announced id goes unused.
        self._end_turn()
        self.idle_deadline = None
        self._host.commit_audio(self._host.new_id("item"), self.buffer.take_all(),
                                self.buffer.spec)

    def clear(self) -> None:
        self.buffer.clear()
        self._end_turn()
        self._host.emit(ev.InputAudioBufferClearedEvent())

    # --- VAD results ----------------------------------------------------------------------

    def on_probabilities(self, result: SpeechProbabilities) -> None:
        detector = self._detector
        if detector is None or result.epoch != self._epoch:
            return  # VAD of a stream that has since been restarted
        for p in result.probabilities:
            start = self._vad_ms
            self._vad_ms += result.frame_ms
            turn = detector.feed(p, start, result.frame_ms)
            if isinstance(turn, SpeechStarted):
                self._start_turn(turn.audio_start_ms)
            elif isinstance(turn, SpeechStopped):
                self._stop_turn(turn.audio_end_ms)
        if not detector.speaking:
            # Silence is not kept, except the prefix padding the next turn starts with.
            self.buffer.drop_before(self._vad_ms - detector.prefix_ms)

    def _start_turn(self, audio_start_ms: float) -> None:
        self.buffer.drop_before(audio_start_ms)
        self._turn_start_ms = max(audio_start_ms, self.buffer.start_ms)
        self._turn_item = self._host.new_id("item")
        self.idle_deadline = None
        self._host.emit(ev.InputAudioBufferSpeechStartedEvent(
            audio_start_ms=round(self._turn_start_ms), item_id=self._turn_item))
        self._host.speech_started()

    def _stop_turn(self, audio_end_ms: float) -> None:
        item_id = self._turn_item or self._host.new_id("item")
        self._turn_item = None
        self._host.emit(ev.InputAudioBufferSpeechStoppedEvent(
            audio_end_ms=round(audio_end_ms), item_id=item_id))
        self._host.commit_audio(item_id, self.buffer.take_until(audio_end_ms),
                                self.buffer.spec)
        self._host.turn_ended()

    def _end_turn(self) -> None:
        if self._detector is not None:
            self._detector.reset()
        self._turn_item = None

    # --- idle timeout ---------------------------------------------------------------------

    def arm_idle(self, playback_end: float) -> None:
        """A response ended; its audio finishes playing at ``playback_end`` (wall clock)."""
        td = self.turn_detection
        if isinstance(td, ServerVad) and isinstance(td.idle_timeout_ms, int):
            self.idle_deadline = playback_end + td.idle_timeout_ms / 1000

    def disarm_idle(self) -> None:
        self.idle_deadline = None

    def tick(self, now: float) -> None:
        if self.idle_deadline is None or now < self.idle_deadline:
            return
        self.idle_deadline = None
        self._end_turn()
        item_id = self._host.new_id("item")
        start, end = self.buffer.start_ms, self.buffer.end_ms
        self._host.emit(ev.InputAudioBufferTimeoutTriggered(
            audio_start_ms=round(start), audio_end_ms=round(end), item_id=item_id))
        self._host.commit_audio(item_id, self.buffer.take_all(), self.buffer.spec)
        self._host.turn_ended()


def _spec(config: AudioInput) -> AudioSpec:
    assert not isinstance(config.format, msgspec.UnsetType)
    return spec_of(config.format)
