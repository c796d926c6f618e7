"""ICE for a server behind NAT or a firewall: host candidates bound within a UDP port range,
and a public address announced beside them.

aioice (under aiortc) binds every host candidate to a random port and has no setting for a
range, so each call's ICE connection is made one that binds its host sockets in the range.
It gathers host candidates only: the server uses no STUN or TURN servers (none are reachable
offline, and a server's own address is known or given as ``webrtc_public_ip``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random

from aioice import Candidate, Connection
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import StunProtocol
from aiortc import RTCPeerConnection

log = logging.getLogger(__name__)


def parse_ports(spec: str) -> tuple[int, int]:
    """``LOW-HIGH`` (checked by the settings) as a pair."""
    low, _, high = spec.partition("-")
    return int(low), int(high)


class _PortRangeConnection(Connection):
    """aioice's connection with its host sockets bound in ``_ports``."""

    _ports: tuple[int, int]

    async def get_component_candidates(
        self, component: int, addresses: list[str], timeout: int = 5  # noqa: ASYNC109
    ) -> list[Candidate]:
        # aioice's own also asks STUN/TURN servers (``timeout``); this server names none.
        candidates = []
        for address in addresses:
            protocol = await self._bind(address)
            if protocol is None:
                continue
            host, port = protocol.transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host), component=component,
                transport="udp", priority=candidate_priority(component, "host"), host=host,
                port=port, type="host")
            candidates.append(protocol.local_candidate)
            self._protocols.append(protocol)
        return candidates

    async def _bind(self, address: str) -> StunProtocol | None:
        low, high = self._ports
        first = random.randint(low, high)  # concurrent calls should not all probe from LOW
        loop = asyncio.get_running_loop()
        for i in range(high - low + 1):
            port = low + (first - low + i) % (high - low + 1)
            try:
                _, protocol = await loop.create_datagram_endpoint(
                    lambda: StunProtocol(self), local_addr=(address, port))
            except OSError:
                continue  # taken (another call, another program) or not bindable
            return protocol
        log.warning("WebRTC: no free UDP port in %d-%d on %s", low, high, address)
        return None


def restrict_ports(pc: RTCPeerConnection, ports: tuple[int, int]) -> None:
    """Make ``pc`` gather in ``ports``; call after ``setRemoteDescription``, before the answer
    is set (which gathers). Reaches into aiortc: its gatherer offers no such setting."""
    gatherers = {id(t.sender.transport.transport.iceGatherer): t.sender.transport.transport
                 .iceGatherer for t in pc.getTransceivers() if t.sender.transport is not None}
    if pc.sctp is not None:
        gatherer = pc.sctp.transport.transport.iceGatherer
        gatherers[id(gatherer)] = gatherer
    for gatherer in gatherers.values():
        # Changed in place: the ICE transport already holds this very connection.
        conn = gatherer._connection
        conn.__class__ = _PortRangeConnection
        assert isinstance(conn, _PortRangeConnection)
        conn._ports = ports


def announce_public_ip(sdp: str, public_ip: str) -> str:
    """Add, after each host candidate of the public address's family, the same port at
    ``public_ip`` as a server-reflexive candidate: what a 1:1 NAT (a cloud VM, a Docker port
    mapping of the UDP range) makes of it."""
    family = ipaddress.ip_address(public_ip).version
    out = []
    for line in sdp.splitlines():
        out.append(line)
        if not line.startswith("a=candidate:"):
            continue
        parts = line[len("a=candidate:"):].split()
        if len(parts) < 8 or parts[6:8] != ["typ", "host"] or parts[2].lower() != "udp":
            continue
        component, host, port = int(parts[1]), parts[4], parts[5]
        try:
            if ipaddress.ip_address(host).version != family or host == public_ip:
                continue
        except ValueError:
            continue  # an mDNS name
        foundation = candidate_foundation("srflx", "udp", host)
        priority = candidate_priority(component, "srflx")
        out.append(f"a=candidate:{foundation} {component} udp {priority} {public_ip} {port} "
                   f"typ srflx raddr {host} rport {port}")
    return "\r\n".join(out) + "\r\n"
