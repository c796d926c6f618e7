"""Engines: small interfaces (LLM, VAD, speech-to-text, text-to-speech), the catalog of every
engine, and their implementations. Engines import only ``protocol`` and ``audio``; never
session, runtime or transports. Optional heavy packages are imported lazily (``loading``)."""
