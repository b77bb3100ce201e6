"""Context (this party, its peers, namespaces, channels) on top of a transport."""

from fedloom.context.channel import Channel
from fedloom.context.context import DEFAULT_TIMEOUT, Context

__all__ = ["DEFAULT_TIMEOUT", "Channel", "Context"]
