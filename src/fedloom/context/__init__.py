"""Context (this party, its peers, namespaces, channels) on top of a transport."""

from fedloom.context.channel import Channel
from fedloom.context.context import DEFAULT_TIMEOUT, Context
from fedloom.context.namespace import NamespacePath

__all__ = ["DEFAULT_TIMEOUT", "Channel", "Context", "NamespacePath"]
