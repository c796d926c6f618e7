"""Engines: small interfaces (LLM now; VAD, speech-to-text and text-to-speech next) and their
implementations. Engines import only ``protocol``; never session, runtime or transports."""
