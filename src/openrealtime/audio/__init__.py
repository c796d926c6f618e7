"""Audio formats: PCM16 at any rate, G.711 mu-law/A-law, resampling, WAV.

Imports nothing of ours."""
