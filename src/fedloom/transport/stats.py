"""Bytes and messages counted per channel, in both directions."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass


@dataclass
class ChannelTraffic:
    """Traffic of one channel as seen by one party."""

    sent_bytes: int = 0
    sent_messages: int = 0
    received_bytes: int = 0
    received_messages: int = 0


class TrafficStats:
    """Per-channel counters; thread-safe. ``as_dict()`` is what a job reports per party."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_channel: defaultdict[str, ChannelTraffic] = defaultdict(ChannelTraffic)

    def sent(self, channel: str, nbytes: int) -> None:
        with self._lock:
            t = self._by_channel[channel]
            t.sent_bytes += nbytes
            t.sent_messages += 1

    def received(self, channel: str, nbytes: int) -> None:
        with self._lock:
            t = self._by_channel[channel]
            t.received_bytes += nbytes
            t.received_messages += 1

    def channel(self, name: str) -> ChannelTraffic:
        with self._lock:
            return ChannelTraffic(**vars(self._by_channel.get(name, ChannelTraffic())))

    @property
    def total_sent(self) -> int:
        with self._lock:
            return sum(t.sent_bytes for t in self._by_channel.values())

    @property
    def total_received(self) -> int:
        with self._lock:
            return sum(t.received_bytes for t in self._by_channel.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(vars(t)) for name, t in sorted(self._by_channel.items())}
