"""Moving messages between parties: envelopes, the codec and the transport backends."""

from fedloom.transport.base import Transport
from fedloom.transport.envelope import SCHEMA_VERSION, Envelope
from fedloom.transport.memory import MemoryHub, MemoryTransport

__all__ = ["SCHEMA_VERSION", "Envelope", "MemoryHub", "MemoryTransport", "Transport"]
