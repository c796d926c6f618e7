"""Wire models of the OpenAI Realtime API: events, items, sessions, codec, errors.

Imports nothing else of ours; every other layer builds on it.
"""
