"""How many sessions the server holds at once, over every transport together."""

from __future__ import annotations

from aiohttp import web


class Admission:
    """Counts open sessions (WebSocket and WebRTC alike). Past ``limit`` a new one is refused
    before any work, so the sessions already running keep their real-time budget; 0: no limit.
    """

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit
        self.open = 0

    def full(self) -> bool:
        return bool(self.limit) and self.open >= self.limit

    def enter(self) -> None:
        self.open += 1

    def leave(self) -> None:
        self.open -= 1

    def refusal(self) -> web.Response:
        return web.json_response(
            {"error": {"message": f"The server is at its limit of {self.limit} sessions; try "
                                  "again later.", "type": "server_error", "code": "server_busy",
                       "param": None}},
            status=503, headers={"Retry-After": "1"})
