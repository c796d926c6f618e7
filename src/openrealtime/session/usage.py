"""Token usage in the shape ``response.done`` reports it."""

from __future__ import annotations

from ..protocol import server_events as ev


def make_usage(input_tokens: int, output_tokens: int, input_audio: int = 0,
               output_audio: int = 0) -> ev.ResponseUsage:
    return ev.ResponseUsage(
        total_tokens=input_tokens + output_tokens,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        input_token_details=ev.InputTokenDetails(
            text_tokens=input_tokens - input_audio, audio_tokens=input_audio),
        output_token_details=ev.OutputTokenDetails(
            text_tokens=output_tokens - output_audio, audio_tokens=output_audio),
    )
