"""What runs inside pocketsphinx's worker processes: one decoder each, one piece at a time.

pocketsphinx decodes with the GIL held (a 10 s piece holds it for about 2 s), which would
freeze the server's event loop and every session on it; in worker processes it holds only
their own. This module imports nothing but pocketsphinx, so a worker starts quickly.
"""

from __future__ import annotations

from typing import Any

_decoder: Any = None


def start(config: dict[str, str]) -> None:
    """The pool's initializer: this process's decoder (``config``: hmm, dict, lm or none)."""
    global _decoder
    import pocketsphinx

    _decoder = pocketsphinx.Decoder(loglevel="ERROR", cmn="batch", **config)


def ready() -> bool:
    return _decoder is not None


def decode(piece: bytes) -> str:
    """The hypothesis for one piece of 16 kHz PCM16, decoded as a whole utterance."""
    decoder = _decoder
    decoder.reinit_feat()  # no front-end state from the last piece (~30 us)
    decoder.start_utt()
    decoder.process_raw(piece, False, True)  # full_utt: the batch mean over the piece
    decoder.end_utt()
    hyp = decoder.hyp()
    return "" if hyp is None else str(hyp.hypstr)
