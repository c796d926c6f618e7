"""``openrealtime talk``: a command-line client for any OpenAI Realtime (GA) server.

It streams a WAV file, the microphone or a typed message to the server, prints what happens
live and saves the spoken reply as a WAV. A client only: it speaks the wire protocol over
aiohttp's WebSocket client and imports nothing of the server but the audio helpers.
"""
