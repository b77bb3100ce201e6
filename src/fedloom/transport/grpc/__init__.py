"""gRPC transport backend: streaming with chunking, TLS and mutual TLS, party identity checks.

>>> from fedloom.core.roles import PartyId
>>> from fedloom.transport.grpc import GrpcTransport
>>> with GrpcTransport(PartyId.parse("guest:9999")) as guest:  # doctest: +SKIP
...     guest.set_peers({"host:10000": "127.0.0.1:5001"})
"""

from fedloom.transport.grpc.tls import TlsConfig, make_pki
from fedloom.transport.grpc.transport import GrpcTransport

__all__ = ["GrpcTransport", "TlsConfig", "make_pki"]
