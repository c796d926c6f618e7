"""The sans-I/O session core: client events and engine results in; server events and effects
out. Nothing here awaits, opens a socket, reads the clock or calls a model."""
