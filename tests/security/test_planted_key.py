"""Finding 1: a host plants its own Paillier key at the arbiter→guest ``public_key`` address.

Had it worked, the guest would encrypt the labels under a key the host can decrypt. The
transport must refuse an envelope whose address names another sender, and the guest must end up
with the arbiter's key (pinned), whatever arrived first.
"""

from __future__ import annotations

import threading

import pytest

from fedloom.context import Context
from fedloom.core import MessageError, PartyId
from fedloom.crypto.cipher import generate_keypair
from fedloom.ml.hetero.glm import messages as msg
from fedloom.transport.codec import encode
from fedloom.transport.envelope import Envelope
from fedloom.transport.memory import MemoryHub

GUEST, HOST, ARBITER = (PartyId.parse(p) for p in ("guest:9999", "host:10000", "arbiter:10000"))


def _forged_key_envelope(guest: Context, attacker: PartyId) -> Envelope:
    host_key, _ = generate_keypair("paillier", 1024)
    encoded = encode(host_key)
    return Envelope(
        address=guest.address(msg.PUBLIC_KEY, ARBITER, GUEST),  # ends in arbiter:10000->guest:9999
        src=str(attacker),
        dst=str(GUEST),
        payload_type=encoded.payload_type,
        key_fingerprint="",
        body=encoded.body,
    )


@pytest.mark.parametrize("claimed_src", ["host", "arbiter"])
def test_a_host_cannot_plant_a_public_key_for_the_guest(claimed_src: str) -> None:
    hub = MemoryHub()
    everyone = [GUEST, HOST, ARBITER]
    guest = Context(GUEST, everyone, hub.connect(GUEST), job_id="j", timeout=10).sub("hetero_lr_0")
    host_transport = hub.connect(HOST)
    arbiter = Context(ARBITER, everyone, hub.connect(ARBITER), job_id="j", timeout=10).sub("hetero_lr_0")

    # The host sends as itself to the arbiter's address, or lies about being the arbiter.
    forged = _forged_key_envelope(guest, HOST if claimed_src == "host" else ARBITER)
    with pytest.raises(MessageError):
        host_transport.send(forged, timeout=5)

    real_key, _ = generate_keypair("paillier", 1024)
    sender = threading.Thread(target=arbiter.send, args=(msg.PUBLIC_KEY, real_key), kwargs={"to": GUEST})
    sender.start()
    got = guest.recv_public_key(msg.PUBLIC_KEY, scheme="paillier", min_bits=1024)
    sender.join()
    assert got.fingerprint == real_key.fingerprint
