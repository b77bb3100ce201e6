"""Over gRPC: ciphertexts under a key the receiver never got are refused, and it keeps serving."""

from __future__ import annotations

import numpy as np
import pytest

from fedloom.context import Channel, Context
from fedloom.core import GUEST, HOST, MessageError, PartyId
from fedloom.crypto.paillier import generate_keypair
from fedloom.transport.grpc import GrpcTransport

PUBKEY = Channel("pubkey", src=GUEST, dst=HOST)
VALUES = Channel("values", src=GUEST, dst=HOST)


def test_wrong_key_ciphertexts_are_refused_and_the_next_message_still_arrives() -> None:
    g, h = PartyId.parse("guest:9999"), PartyId.parse("host:10000")
    tg, th = GrpcTransport(g), GrpcTransport(h)
    try:
        tg.set_peers({str(h): th.address})
        th.set_peers({str(g): tg.address})
        guest = Context(g, [h], tg, job_id="keys", timeout=10)
        host = Context(h, [g], th, job_id="keys", timeout=10)
        announced, _ = generate_keypair(1024)
        other, _ = generate_keypair(1024)

        guest.send(PUBKEY, announced)
        accepted = host.recv_public_key(PUBKEY, scheme="paillier", min_bits=1024)
        assert accepted.fingerprint == announced.fingerprint

        guest.sub("round", 0).send(VALUES, other.encrypt(np.arange(3.0)))  # never announced
        with pytest.raises(MessageError, match="does not know"):
            host.sub("round", 0).recv(VALUES)

        guest.sub("round", 1).send(VALUES, announced.encrypt(np.arange(3.0)))
        assert len(host.sub("round", 1).recv(VALUES)) == 3
    finally:
        tg.close()
        th.close()
