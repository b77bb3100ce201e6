"""Pohlig–Hellman commutative encryption over the RFC 3526 MODP groups (FATE's ``dh`` PSI).

The algebra (``p = 2q + 1`` a safe prime from RFC 3526, ``G_q`` the subgroup of quadratic
residues mod p, of prime order q)::

    H(x)      = (h(x) mod p)^2 mod p, h a counter-mode full-domain hash to |p| + 128 bits:
                a uniform element of G_q (squaring maps Z_p* two-to-one onto G_q)
    E_k(m)    = m^k mod p            with k uniform in [1, q − 1], secret, fresh per run
    E_a(E_b(m)) = m^(a·b) = E_b(E_a(m))          (commutative)
    join key  = sha256(DOMAIN_J ‖ m as |p|/8 big-endian bytes)[:16]

Security: under DDH in G_q, ``H(x)^k`` for ids the other side does not hold is indistinguishable
from a random element of G_q (H a random oracle), so a party learns only which values match.
Received values are checked to lie in G_q (``2 <= m <= p − 2`` and Legendre symbol 1), so a peer
cannot send an element of the order-2 subgroup to read bits of the exponent.

Group sizes: 2048 (default), 3072 and 4096 bits. FATE's ``key_length`` default is 1024 (a
freshly generated 1024-bit prime); 1024-bit discrete logs are within reach of large attackers,
so a smaller ``key_length`` runs on the 2048-bit group (the caller logs a warning).

Exponentiations run on gmpy2, in parallel threads over chunks (gmpy2 releases the GIL).
Integers travel as fixed-width big-endian bytes in one ``(n, |p|/8)`` uint8 array.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gmpy2
import numpy as np

from fedloom.core.errors import ConfigError, MessageError
from fedloom.crypto.hashes import counter_prefixes
from fedloom.crypto.paillier.parallel import map_list
from fedloom.crypto.wire import check_array, ints_to_array

__all__ = [
    "HASH_METHODS",
    "JOIN_BYTES",
    "MODP_GROUPS",
    "DhKey",
    "ModpGroup",
    "group_for",
]

HASH_METHODS = ("sha256", "sha384", "sha512", "sm3")
JOIN_BYTES = 16
DOMAIN_H = b"fedloom/psi/dh/H/v1\x00"
DOMAIN_J = b"fedloom/psi/dh/join/v1\x00"
_MIN_PARALLEL_POW = 32
_MIN_PARALLEL_CHEAP = 4096

_RFC3526_2048 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF"
)
_RFC3526_3072 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
_RFC3526_4096 = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6"
    "287C59474E6BC05D99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF"
)

#: RFC 3526 safe primes by bit length.
MODP_GROUPS: dict[int, str] = {2048: _RFC3526_2048, 3072: _RFC3526_3072, 4096: _RFC3526_4096}


@dataclass(frozen=True)
class ModpGroup:
    """The quadratic-residue subgroup (prime order ``q = (p − 1)/2``) of an RFC 3526 group."""

    bits: int
    p: Any = field(repr=False)

    @property
    def q(self) -> Any:
        return (self.p - 1) // 2

    @property
    def nbytes(self) -> int:
        return (self.bits + 7) // 8

    def hash_ids(self, ids: Sequence[str], hash_method: str = "sha256", salt: str = "") -> list[Any]:
        """``H(id) = (h(id) mod p)^2 mod p`` for every id (see the module docstring).

        ``h`` is counter-mode: ``block_i = hash(DOMAIN_H ‖ len(salt) ‖ salt ‖ i ‖ utf8(id))``,
        concatenated to ``|p|/8 + 16`` bytes (the extra 128 bits make ``mod p`` uniform).
        """
        ctor, prefixes = counter_prefixes(hash_method, HASH_METHODS, DOMAIN_H, salt, self.nbytes)
        p, mpz = self.p, gmpy2.mpz

        def chunk(xs: list[str]) -> list[Any]:
            out = []
            for x in xs:
                raw = x.encode("utf-8")
                h = mpz(int.from_bytes(b"".join([ctor(pre + raw).digest() for pre in prefixes]), "big")) % p
                out.append((h * h) % p)
            return out

        return map_list(chunk, list(ids), _MIN_PARALLEL_CHEAP)

    def to_array(self, values: list[Any]) -> np.ndarray:
        """``(n, nbytes)`` uint8 array of the values, fixed-width big-endian."""
        return ints_to_array(values, self.nbytes)

    def from_array(self, arr: object, *, count: int | None = None, what: str = "values") -> list[Any]:
        """Check a received array and decode it: every value must be an element of ``G_q``."""
        k = self.nbytes
        buf = np.ascontiguousarray(check_array(arr, width=k, count=count, what=what)).tobytes()
        p, mpz = self.p, gmpy2.mpz

        def chunk(offsets: list[int]) -> list[Any]:
            out = []
            for off in offsets:
                m = mpz(int.from_bytes(buf[off : off + k], "big"))
                if not (1 < m < p - 1) or gmpy2.legendre(m, p) != 1:
                    raise MessageError(
                        f"{what}: a value is not in the quadratic-residue subgroup", field=what
                    )
                out.append(m)
            return out

        return map_list(chunk, list(range(0, len(buf), k)), _MIN_PARALLEL_CHEAP)

    def join_keys(self, values: list[Any]) -> np.ndarray:
        """``sha256(DOMAIN_J ‖ m)[:16]`` per value: ``(n, 16)`` uint8, for :func:`join`."""
        k = self.nbytes
        sha = hashlib.sha256

        def chunk(vs: list[Any]) -> list[bytes]:
            return [sha(DOMAIN_J + int(v).to_bytes(k, "big")).digest()[:JOIN_BYTES] for v in vs]

        digests = map_list(chunk, values, _MIN_PARALLEL_CHEAP)
        if not digests:
            return np.zeros((0, JOIN_BYTES), dtype=np.uint8)
        return np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, JOIN_BYTES)


def group_for(key_length: int) -> ModpGroup:
    """The RFC 3526 group for ``key_length`` bits: 2048, 3072 or 4096; below 2048, 2048.

    Raises ConfigError naming ``key_length`` for any other size.
    """
    if not isinstance(key_length, int) or isinstance(key_length, bool) or key_length < 1:
        raise ConfigError(f"must be a positive int. Got {key_length!r}.", field="key_length")
    bits = max(key_length, 2048)
    if bits not in MODP_GROUPS:
        raise ConfigError(
            f"must be one of 1024 (runs on 2048), 2048, 3072, 4096 (RFC 3526 groups). Got {key_length}.",
            field="key_length",
        )
    return ModpGroup(bits, gmpy2.mpz(int(MODP_GROUPS[bits], 16)))


class DhKey:
    """A secret exponent ``k`` uniform in ``[1, q − 1]`` (OS CSPRNG), fresh for each run."""

    def __init__(self, group: ModpGroup) -> None:
        self.group = group
        q = group.q
        self._k = gmpy2.mpz(1 + secrets.randbelow(int(q) - 1))

    def encrypt(self, values: list[Any]) -> list[Any]:
        """``[m^k mod p for m in values]``, in parallel threads."""
        p, k = self.group.p, self._k

        def chunk(ms: list[Any]) -> list[Any]:
            ctx = gmpy2.get_context()
            ctx.allow_release_gil = True
            powmod = gmpy2.powmod
            return [powmod(m, k, p) for m in ms]

        return map_list(chunk, values, _MIN_PARALLEL_POW)
