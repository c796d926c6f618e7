"""Turn detection: speech probabilities per VAD frame in, turn boundaries out.

States::

    silent ──p ≥ threshold──▶ speaking ──p < threshold-0.15 for the silence wait──▶ silent
             (SpeechStarted)              (SpeechStopped)

Positions are on the session's audio timeline (milliseconds of appended audio). A frame below
the upper threshold but above the lower one keeps speech going without counting as silence
(hysteresis, as in Silero's own ``get_speech_timestamps``), so a soft syllable does not end a
turn.

``server_vad`` waits ``silence_duration_ms`` of silence. ``semantic_vad`` waits longer when the
utterance seems unfinished, up to OpenAI's documented maximum for its ``eagerness`` (low 8 s,
medium/auto 4 s, high 2 s). Whether it seems unfinished is an ``EndOfTurnModel``'s call; the
seam is there for a learned model, and without one the wait is a fixed share of the maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from ..protocol.session_types import SemanticVad, ServerVad

HYSTERESIS = 0.15
LOWER_FLOOR = 0.01
SEMANTIC_MAX_WAIT_MS = {"low": 8000, "medium": 4000, "auto": 4000, "high": 2000}
SEMANTIC_THRESHOLD = 0.5
SEMANTIC_PREFIX_MS = 300


class EndOfTurnModel(Protocol):
    def unfinished(self, speech_ms: float) -> float:
        """Probability (0-1) that the speaker is not done, given the utterance so far."""
        ...


class FixedPrior:
    """No learned model: every pause is taken as this likely to be mid-utterance."""

    def __init__(self, prior: float = 0.25) -> None:
        self.prior = prior

    def unfinished(self, speech_ms: float) -> float:
        return self.prior


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    audio_start_ms: float
    """Where the committed audio will begin: speech onset minus the prefix padding."""


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    audio_end_ms: float


TurnEvent = SpeechStarted | SpeechStopped


class TurnDetector:
    __slots__ = ("threshold", "prefix_ms", "_silence_ms", "_max_wait", "_eot", "state",
                 "_onset_ms", "_silent_since")

    def __init__(self, config: ServerVad | SemanticVad,
                 end_of_turn: EndOfTurnModel | None = None) -> None:
        self._eot = end_of_turn or FixedPrior()
        self._max_wait = 0.0
        if isinstance(config, ServerVad):
            assert isinstance(config.threshold, float | int)
            assert isinstance(config.prefix_padding_ms, int)
            assert isinstance(config.silence_duration_ms, int)
            self.threshold = float(config.threshold)
            self.prefix_ms = config.prefix_padding_ms
            self._silence_ms: float | None = float(config.silence_duration_ms)
        else:
            eagerness = config.eagerness if isinstance(config.eagerness, str) else "auto"
            self._max_wait = SEMANTIC_MAX_WAIT_MS[eagerness]
            self.threshold = SEMANTIC_THRESHOLD
            self.prefix_ms = SEMANTIC_PREFIX_MS
            self._silence_ms = None
        self.state: Literal["silent", "speaking"] = "silent"
        self._onset_ms = 0.0
        self._silent_since: float | None = None

    def _silence_wait(self, speech_ms: float) -> float:
        if self._silence_ms is not None:
            return self._silence_ms
        return self._max_wait * self._eot.unfinished(speech_ms)

    @property
    def speaking(self) -> bool:
        return self.state == "speaking"

    def reset(self) -> None:
        self.state = "silent"
        self._silent_since = None

    def feed(self, probability: float, frame_start_ms: float, frame_ms: float
             ) -> TurnEvent | None:
        frame_end = frame_start_ms + frame_ms
        if self.state == "silent":
            if probability >= self.threshold:
                self.state = "speaking"
                self._onset_ms = frame_start_ms
                self._silent_since = None
                return SpeechStarted(max(0.0, frame_start_ms - self.prefix_ms))
            return None
        # Silero's floor for the lower threshold: without it a threshold at or below the
        # hysteresis leaves nothing that counts as silence, and a turn never ends.
        if probability >= max(self.threshold - HYSTERESIS, min(self.threshold, LOWER_FLOOR)):
            if probability >= self.threshold:
                self._silent_since = None
            return None
        if self._silent_since is None:
            self._silent_since = frame_start_ms
        speech_ms = self._silent_since - self._onset_ms
        if frame_end - self._silent_since >= self._silence_wait(speech_ms):
            self.reset()
            return SpeechStopped(frame_end)
        return None
