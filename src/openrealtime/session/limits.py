"""Per-session limits: what keeps one client from exhausting the server."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    # OpenAI's sessions last at most 60 minutes; ``expires_at`` announces it.
    max_session_s: int = 3600
    # openai-python's websockets client refuses frames over 1 MiB by default.
    max_frame_bytes: int = MIB
    # One append may carry 15 MiB of audio, i.e. 20 MiB of base64.
    max_append_b64: int = 20 * MIB
    # Uncommitted input audio; past this an append is refused and nothing is lost.
    max_buffer_ms: int = 10 * 60 * 1000
