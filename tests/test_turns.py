"""Turn detection: speech probabilities per VAD frame in, turn boundaries out (EVENTS.md §3.5,
§6.4). Positions are milliseconds on the session's audio timeline."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from openrealtime.protocol.session_types import SemanticVad, ServerVad
from openrealtime.session.config import fill_turn_detection
from openrealtime.session.turns import (
    SEMANTIC_MAX_WAIT_MS,
    FixedPrior,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    TurnEvent,
)

FRAME = 100  # ms per frame, for round numbers


def server_vad(**fields: object) -> TurnDetector:
    td = fill_turn_detection(ServerVad(**fields))  # type: ignore[arg-type]
    return TurnDetector(td)


def semantic_vad(eagerness: str | None = None, model: object = None) -> TurnDetector:
    td = SemanticVad() if eagerness is None else SemanticVad(eagerness=eagerness)  # type: ignore[arg-type]
    return TurnDetector(fill_turn_detection(td), model)  # type: ignore[arg-type]


def run(detector: TurnDetector, probabilities: Sequence[float], start_ms: float = 0,
        frame_ms: float = FRAME) -> list[tuple[int, TurnEvent]]:
    """Feed frames back to back; the events with the index of the frame that made each."""
    out: list[tuple[int, TurnEvent]] = []
    for i, p in enumerate(probabilities):
        event = detector.feed(p, start_ms + i * frame_ms, frame_ms)
        if event is not None:
            out.append((i, event))
    return out


def test_defaults_from_the_session_config() -> None:
    detector = server_vad()
    assert detector.threshold == 0.5
    assert detector.prefix_ms == 300
    assert detector.state == "silent"
    assert not detector.speaking


# --- start ----------------------------------------------------------------------------------


def test_start_fires_on_the_first_frame_at_the_threshold() -> None:
    detector = server_vad()
    events = run(detector, [0.1, 0.3, 0.49, 0.2, 0.1, 0.5, 0.9])
    assert events == [(5, SpeechStarted(500 - 300))]
    assert detector.speaking
    assert detector.state == "speaking"


def test_start_includes_the_prefix_padding() -> None:
    detector = server_vad(prefix_padding_ms=120)
    assert detector.feed(0.8, 1000, 32) == SpeechStarted(880)


def test_start_is_clamped_at_the_timeline_start() -> None:
    assert server_vad().feed(0.9, 64, 32) == SpeechStarted(0)
    assert server_vad().feed(0.9, 0, 32) == SpeechStarted(0)
    assert server_vad(prefix_padding_ms=0).feed(0.9, 64, 32) == SpeechStarted(64)


def test_the_threshold_is_configurable() -> None:
    detector = server_vad(threshold=0.8)
    assert run(detector, [0.5, 0.79, 0.8]) == [(2, SpeechStarted(0))]


def test_no_second_start_while_speaking() -> None:
    detector = server_vad()
    assert run(detector, [0.9] * 30) == [(0, SpeechStarted(0))]


# --- stop -----------------------------------------------------------------------------------


def test_stop_fires_after_the_silence_duration() -> None:
    detector = server_vad(silence_duration_ms=500)
    # Speech over 0-1000 ms, silence from 1000: five 100 ms frames make the 500 ms wait.
    events = run(detector, [0.9] * 10 + [0.1] * 8)
    assert events == [(0, SpeechStarted(0)), (14, SpeechStopped(1500))]
    assert not detector.speaking


def test_stop_needs_the_whole_wait_with_short_frames() -> None:
    detector = server_vad(silence_duration_ms=500)
    # 32 ms frames: 15 silent frames make 480 ms, the 16th completes the wait at 512 ms.
    events = run(detector, [0.9] + [0.0] * 20, frame_ms=32)
    assert events[1] == (16, SpeechStopped(32 + 16 * 32))


def test_audio_end_is_the_end_of_the_frame_that_completed_the_wait() -> None:
    detector = server_vad(silence_duration_ms=250)
    events = run(detector, [0.9, 0.1, 0.1, 0.1, 0.1], start_ms=2000)
    # Silence from 2100; 2100 + 250 falls in the frame 2300-2400, which ends the turn.
    assert events == [(0, SpeechStarted(1700)), (3, SpeechStopped(2400))]


def test_zero_silence_duration_stops_on_the_first_silent_frame() -> None:
    detector = server_vad(silence_duration_ms=0)
    assert run(detector, [0.9, 0.9, 0.2]) == [(0, SpeechStarted(0)), (2, SpeechStopped(300))]


def test_speech_resuming_resets_the_silence() -> None:
    detector = server_vad(silence_duration_ms=500)
    probabilities = [0.9] + [0.1] * 4 + [0.7] + [0.1] * 4 + [0.9] + [0.1] * 6
    events = run(detector, probabilities)
    # Silence 100-500, speech at 500, silence 600-1000, speech at 1000, silence from 1100.
    assert events == [(0, SpeechStarted(0)), (15, SpeechStopped(1600))]


def test_a_new_turn_after_a_stop() -> None:
    detector = server_vad(silence_duration_ms=200, prefix_padding_ms=100)
    events = run(detector, [0.9, 0.1, 0.1, 0.1, 0.1, 0.6, 0.1, 0.1])
    assert events == [
        (0, SpeechStarted(0)),
        (2, SpeechStopped(300)),
        (5, SpeechStarted(400)),
        (7, SpeechStopped(800)),
    ]


# --- hysteresis -----------------------------------------------------------------------------


def test_a_soft_frame_keeps_speech_going() -> None:
    detector = server_vad(silence_duration_ms=200)
    # 0.4 lies between threshold-0.15 (0.35) and the threshold (0.5): not silence.
    assert run(detector, [0.9] + [0.4] * 50) == [(0, SpeechStarted(0))]
    assert detector.speaking


@pytest.mark.parametrize(("p", "silent"), [(0.36, False), (0.34, True), (0.0, True)])
def test_the_lower_threshold(p: float, silent: bool) -> None:
    detector = server_vad(silence_duration_ms=0)
    detector.feed(0.9, 0, FRAME)
    stopped = detector.feed(p, FRAME, FRAME)
    assert (stopped == SpeechStopped(200)) is silent


def test_a_soft_frame_does_not_restart_the_silence_count() -> None:
    detector = server_vad(silence_duration_ms=500)
    # Silence from 100; soft frames 200-600 neither reset that start nor end the wait on
    # their own (the one ending at 600 would have); the next silent frame ends the turn.
    events = run(detector, [0.9, 0.1, 0.4, 0.4, 0.4, 0.4, 0.1, 0.1])
    assert events == [(0, SpeechStarted(0)), (6, SpeechStopped(700))]


def test_a_soft_frame_does_not_start_speech() -> None:
    detector = server_vad()
    assert run(detector, [0.4, 0.45, 0.49]) == []
    assert not detector.speaking


def test_a_frame_at_the_threshold_resets_the_silence_but_a_soft_one_does_not() -> None:
    detector = server_vad(silence_duration_ms=300)
    # 0.5 at 300 resets; silence again from 400; 400 + 300 is reached at the end of 600-700.
    events = run(detector, [0.9, 0.1, 0.1, 0.5, 0.1, 0.4, 0.1, 0.1])
    assert events == [(0, SpeechStarted(0)), (6, SpeechStopped(700))]


@pytest.mark.parametrize("threshold", [0.05, 0.1, 0.15])
def test_a_low_threshold_still_lets_a_turn_end(threshold: float) -> None:
    # threshold - 0.15 is at or below zero here; without a floor nothing would count as
    # silence and the turn would never end.
    detector = server_vad(threshold=threshold, silence_duration_ms=200)
    events = run(detector, [0.9, 0.001, 0.001, 0.001])
    assert events == [(0, SpeechStarted(0)), (2, SpeechStopped(300))]


def test_with_a_low_threshold_a_soft_frame_is_still_not_silence() -> None:
    detector = server_vad(threshold=0.1, silence_duration_ms=0)
    assert run(detector, [0.9, 0.05, 0.02, 0.005]) == [
        (0, SpeechStarted(0)), (3, SpeechStopped(400))
    ]


def test_a_zero_threshold_takes_everything_as_speech() -> None:
    detector = server_vad(threshold=0.0, silence_duration_ms=0)
    assert run(detector, [0.0, 0.0, 0.0]) == [(0, SpeechStarted(0))]


# --- semantic_vad ---------------------------------------------------------------------------


def stop_after(detector: TurnDetector, max_frames: int = 200) -> float:
    """Speech over 0-1000 ms, then silence: how long the silence lasted when the turn ended."""
    events = run(detector, [0.9] * 10 + [0.0] * max_frames)
    stops = [e for _, e in events if isinstance(e, SpeechStopped)]
    assert len(stops) == 1
    return stops[0].audio_end_ms - 1000


def test_semantic_vad_uses_fixed_threshold_and_padding() -> None:
    detector = semantic_vad()
    assert detector.threshold == 0.5
    assert detector.prefix_ms == 300
    assert run(detector, [0.49, 0.5]) == [(1, SpeechStarted(0))]


def test_eagerness_sets_the_maximum_wait() -> None:
    assert SEMANTIC_MAX_WAIT_MS == {"low": 8000, "medium": 4000, "auto": 4000, "high": 2000}


@pytest.mark.parametrize(("eagerness", "wait"), [
    ("low", 2000), ("medium", 1000), ("auto", 1000), ("high", 500), (None, 1000),
])
def test_semantic_wait_is_the_prior_share_of_the_maximum(eagerness: str | None,
                                                         wait: float) -> None:
    # Without a learned model every pause is 25 % likely to be mid-utterance.
    assert stop_after(semantic_vad(eagerness)) == wait


def test_semantic_vad_with_an_unfilled_config_is_auto() -> None:
    assert stop_after(TurnDetector(SemanticVad())) == 1000


@pytest.mark.parametrize(("eagerness", "wait"), [("low", 8000), ("high", 2000)])
def test_a_sure_unfinished_utterance_waits_the_maximum(eagerness: str, wait: float) -> None:
    assert stop_after(semantic_vad(eagerness, FixedPrior(1.0))) == wait


def test_a_finished_utterance_ends_on_the_first_silent_frame() -> None:
    assert stop_after(semantic_vad("low", FixedPrior(0.0))) == FRAME


class Recording:
    """An end-of-turn model that thinks short utterances are unfinished."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def unfinished(self, speech_ms: float) -> float:
        self.calls.append(speech_ms)
        return 0.9 if speech_ms < 500 else 0.05


def test_a_custom_model_is_consulted_with_the_speech_so_far() -> None:
    model = Recording()
    detector = semantic_vad("medium", model)
    # Speech 200-400 ms, then silence from 400: 200 ms of speech seems unfinished (3600 ms).
    events = run(detector, [0.1, 0.1, 0.9, 0.9] + [0.0] * 40)
    assert events == [(2, SpeechStarted(0)), (39, SpeechStopped(4000))]
    assert set(model.calls) == {200.0}


def test_a_custom_model_lets_a_long_utterance_end_sooner() -> None:
    model = Recording()
    detector = semantic_vad("medium", model)
    # 1000 ms of speech seems finished: 5 % of 4000 ms is 200 ms.
    events = run(detector, [0.9] * 10 + [0.0] * 5)
    assert events == [(0, SpeechStarted(0)), (11, SpeechStopped(1200))]
    assert set(model.calls) == {1000.0}


def test_the_speech_so_far_counts_from_the_last_onset_not_the_last_resumption() -> None:
    model = Recording()
    detector = semantic_vad("high", model)
    # Onset at 0, a pause, speech again at 300-500: the utterance is 500 ms long by then.
    run(detector, [0.9, 0.0, 0.0, 0.9, 0.9] + [0.0] * 3)
    assert model.calls[0] == 100.0
    assert model.calls[-1] == 500.0


def test_the_model_is_not_consulted_by_server_vad() -> None:
    model = Recording()
    detector = TurnDetector(fill_turn_detection(ServerVad()), model)
    run(detector, [0.9] + [0.0] * 10)
    assert model.calls == []


# --- reset ----------------------------------------------------------------------------------


def test_reset_goes_back_to_silent() -> None:
    detector = server_vad()
    detector.feed(0.9, 0, FRAME)
    assert detector.speaking
    detector.reset()
    assert not detector.speaking
    # The next speech frame starts a new turn.
    assert detector.feed(0.9, 1000, FRAME) == SpeechStarted(700)


def test_reset_forgets_the_silence_counted_so_far() -> None:
    detector = server_vad(silence_duration_ms=300)
    run(detector, [0.9, 0.1, 0.1])  # 200 ms of silence counted
    detector.reset()
    events = run(detector, [0.9, 0.1, 0.1, 0.1, 0.1], start_ms=300)
    # A fresh count: silence from 400 ends at 700, not at 400 + 100.
    assert events == [(0, SpeechStarted(0)), (3, SpeechStopped(700))]


def test_reset_when_silent_changes_nothing() -> None:
    detector = server_vad()
    detector.reset()
    assert detector.state == "silent"
    assert run(detector, [0.1, 0.9]) == [(1, SpeechStarted(0))]
