"""Every message of fedloom's PSI protocols, in the order it is sent.

Each channel runs guest ↔ one host; with several hosts the same channel carries one message per
host (the wire address names both ends). Payload shapes in the comments: ``n_g``/``n_h`` ids on
the guest/host side, ``k`` the RSA modulus width in bytes, ``f`` the final-hash digest size.
"""

from __future__ import annotations

from fedloom.context import Channel
from fedloom.core import GUEST, HOST

# -- both methods ------------------------------------------------------------------------------
#: dict of the run's settings (method, hashes, salt digest, flags, id count); the host checks
#: that they equal its own before any id-derived value is sent.
PSI_HELLO = Channel("psi_hello", src=GUEST, dst=HOST, disclosure="the guest's settings and id count")

# -- ECDH (protocols/psi/ecdh.py) --------------------------------------------------------------
#: b·H(u): uint8 (n_h, 32)
ECDH_HOST_POINTS = Channel(
    "ecdh_host_points", src=HOST, dst=GUEST, disclosure="blinded host ids b·H(u): the host's id count only"
)
#: a·H(v): uint8 (n_g, 32)
ECDH_GUEST_POINTS = Channel(
    "ecdh_guest_points", src=GUEST, dst=HOST, disclosure="blinded guest ids a·H(v): the guest's id count only"
)
#: b·a·H(v)[:16]: uint8 (n_g, 16)
ECDH_DOUBLE_POINTS = Channel(
    "ecdh_double_points",
    src=HOST,
    dst=GUEST,
    disclosure="b·a·H(v): joined with the host's points, which guest ids the host holds (the intersection)",
)

# -- DH, Pohlig–Hellman over an RFC 3526 MODP group (protocols/psi/dh.py) ---------------------
#: H(u)^b mod p: uint8 (n_h, |p|/8)
DH_HOST_VALUES = Channel(
    "dh_host_values", src=HOST, dst=GUEST, disclosure="encrypted host ids H(u)^b: the host's id count only"
)
#: H(v)^a mod p: uint8 (n_g, |p|/8)
DH_GUEST_VALUES = Channel(
    "dh_guest_values", src=GUEST, dst=HOST, disclosure="encrypted guest ids H(v)^a: the guest's id count only"
)
#: sha256(H(v)^(a·b))[:16]: uint8 (n_g, 16)
DH_DOUBLE_VALUES = Channel(
    "dh_double_values",
    src=HOST,
    dst=GUEST,
    disclosure="H(v)^(a·b): joined with the host's values, which guest ids the host holds (the intersection)",
)

# -- RSA blind signatures (protocols/psi/rsa.py) -----------------------------------------------
#: {"n": bytes, "e": int}
RSA_HOST_PUBKEY = Channel("rsa_host_pubkey", src=HOST, dst=GUEST, disclosure="the host's RSA public key")
#: split only
RSA_GUEST_PUBKEY = Channel("rsa_guest_pubkey", src=GUEST, dst=HOST, disclosure="the guest's RSA public key")
#: r^e·H(v) mod n_H: uint8 (n_g0, k)
RSA_BLINDED = Channel(
    "rsa_blinded",
    src=GUEST,
    dst=HOST,
    disclosure="blinded guest ids r^e·H(v), uniform: the guest's id count only",
)
#: split: H_f(sign_G(H(v))), (n_g1, f)
RSA_GUEST_SIGNED = Channel(
    "rsa_guest_signed",
    src=GUEST,
    dst=HOST,
    disclosure="the guest's signed id hashes (split): joined with its own, about half of the intersection",
)
#: split: r^e·H(u) mod n_G
RSA_HOST_BLINDED = Channel(
    "rsa_host_blinded",
    src=HOST,
    dst=GUEST,
    disclosure="blinded host ids r^e·H(u), uniform: the host's id count only",
)
#: H_f(sign_H(H(u))): uint8 (n_h0, f)
RSA_HOST_SIGNED = Channel(
    "rsa_host_signed",
    src=HOST,
    dst=GUEST,
    disclosure="the host's signed id hashes: joined with the guest's own, the intersection",
)
#: split: r·H(u)^d_G
RSA_GUEST_SIGNED_BLINDED = Channel(
    "rsa_guest_signed_blinded",
    src=GUEST,
    dst=HOST,
    disclosure="signatures of the host's blinded ids (split): the host's own signed hashes",
)
#: r·H(v)^d_H: uint8 (n_g0, k)
RSA_SIGNED_BLINDED = Channel(
    "rsa_signed_blinded",
    src=HOST,
    dst=GUEST,
    disclosure="signatures of the guest's blinded ids: the guest's own signed hashes",
)
#: split: the host's half-1 join, int64 (k, 2) rows (position in RSA_GUEST_SIGNED, host half-1 position)
RSA_HOST_MATCHES = Channel(
    "rsa_host_matches",
    src=HOST,
    dst=GUEST,
    disclosure="the host's half of the join (split): intersection positions",
)

# -- Bloom-filter preprocessing (protocols/psi/preprocess.py, run_preprocess) ------------------
#: {"settings": dict, "m": int, "k": int, "seed": bytes, "bits": uint8 (ceil(m/8),)}
#: filter_owner guest: sent to every host before PSI_HELLO.
BLOOM_FILTER_GUEST = Channel(
    "bloom_filter_guest",
    src=GUEST,
    dst=HOST,
    disclosure=(
        "a Bloom filter of the guest's salted id hashes: the host can test any id it holds or can "
        "guess (salt included) for membership in the guest's set, wrong only with the false-positive "
        "rate fpp; much weaker than PSI: the host learns which of its ids the guest certainly lacks "
        "and, up to fpp, which it holds"
    ),
)
#: filter_owner host: each host sends its filter to the guest before PSI_HELLO.
BLOOM_FILTER_HOST = Channel(
    "bloom_filter_host",
    src=HOST,
    dst=GUEST,
    disclosure=(
        "a Bloom filter of the host's salted id hashes: the guest can test any id it holds or can "
        "guess (salt included) for membership in the host's set, wrong only with the false-positive "
        "rate fpp; much weaker than PSI: the guest learns which of its ids the host certainly lacks "
        "and, up to fpp, which it holds"
    ),
)

# -- result ------------------------------------------------------------------------------------
#: int64 positions, in the host's own id order, of the final intersection (sync_intersect_ids).
PSI_INTERSECTION = Channel(
    "psi_intersection",
    src=GUEST,
    dst=HOST,
    disclosure="intersection ids (positions in the host's own id list)",
)
#: int: the intersection size (cardinality_only with sync_cardinality).
PSI_CARDINALITY = Channel("psi_cardinality", src=GUEST, dst=HOST, disclosure="the intersection size")
