"""A slow link in user space: two TUN devices joined by a rate limit and a one-way delay.

For kernels without ``sch_netem`` (``CONFIG_NET_SCH_NETEM`` unset, as on this machine), where
``tc qdisc ... netem rate 20mbit delay 40ms`` is refused. Each packet read from one device is
written to the other after its serialization time at ``--rate-mbit`` (packets queue behind
each other, per direction) plus ``--delay-ms``; a direction holding more than
``--queue-bytes`` drops new packets (tail drop, as a router queue). Standard library only::

    python3 linkemu.py --a sbth-1 --b sbtb-1 --rate-mbit 20 --delay-ms 40

prints ``ready`` once both devices exist (the caller then moves ``--b`` into the server's
namespace and gives both their addresses) and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import os
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_PACKET = 65536


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Direction:
    """Packets from ``src`` to ``dst``: a FIFO of (due time, packet)."""

    def __init__(self, src: int, dst: int, *, rate_bps: float, delay_s: float, queue_bytes: int) -> None:
        self.src, self.dst = src, dst
        self.rate_bps, self.delay_s, self.queue_bytes = rate_bps, delay_s, queue_bytes
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.backlog = 0
        self.wire_free = 0.0  # when the last queued packet has left the sender
        self.dropped = 0

    def offer(self, packet: bytes, now: float) -> None:
        if self.backlog + len(packet) > self.queue_bytes:
            self.dropped += 1
            return
        start = max(now, self.wire_free)
        self.wire_free = start + len(packet) * 8 / self.rate_bps
        self.queue.append((self.wire_free + self.delay_s, packet))
        self.backlog += len(packet)

    def deliver(self, now: float) -> None:
        while self.queue and self.queue[0][0] <= now:
            _, packet = self.queue.popleft()
            self.backlog -= len(packet)
            try:
                os.write(self.dst, packet)
            except OSError:  # full (EAGAIN), or not up yet (EIO: the caller is still moving it): lost
                self.dropped += 1

    def next_due(self) -> float | None:
        return self.queue[0][0] if self.queue else None


def run(a: int, b: int, dirs: dict[int, Direction], *, rate_mbit: float, delay_ms: float, queue_bytes: int) -> None:
    """Forward packets between ``a`` and ``b`` forever; ``dirs`` is filled (for statistics)."""
    dirs[a] = Direction(a, b, rate_bps=rate_mbit * 1e6, delay_s=delay_ms / 1000, queue_bytes=queue_bytes)
    dirs[b] = Direction(b, a, rate_bps=rate_mbit * 1e6, delay_s=delay_ms / 1000, queue_bytes=queue_bytes)
    while True:
        now = time.monotonic()
        dues = [d for d in (x.next_due() for x in dirs.values()) if d is not None]
        timeout = max(0.0, min(dues) - now) if dues else 1.0
        readable, _, _ = select.select([a, b], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            for _ in range(64):
                try:
                    packet = os.read(fd, MAX_PACKET)
                except BlockingIOError:
                    break
                dirs[fd].offer(packet, now)
        now = time.monotonic()
        for d in dirs.values():
            d.deliver(now)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", required=True, help="TUN device on the host side")
    p.add_argument("--b", required=True, help="TUN device for the server side")
    p.add_argument("--rate-mbit", type=float, required=True)
    p.add_argument("--delay-ms", type=float, required=True, help="one-way delay (RTT / 2)")
    p.add_argument("--queue-bytes", type=int, default=512 * 1024)
    args = p.parse_args(argv)
    a, b = open_tun(args.a), open_tun(args.b)
    dirs: dict[int, Direction] = {}

    def stop(*_: object) -> None:
        drops = " ".join(f"{name}:{d.dropped}" for name, d in zip((args.a, args.b), dirs.values(), strict=False))
        print(f"dropped {drops}", file=sys.stderr, flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    run(a, b, dirs, rate_mbit=args.rate_mbit, delay_ms=args.delay_ms, queue_bytes=args.queue_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
