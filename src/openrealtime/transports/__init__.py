"""Transports: bytes on a connection <-> the session driver."""
