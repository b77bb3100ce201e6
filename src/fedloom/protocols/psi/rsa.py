"""RSA blind-signature private set intersection, guest and host sides (DESIGN.md §4).

Message flow with one host, ``split_calculation`` off (the host owns the key ``(n, e, d)``;
``H`` is a full-domain hash into Z_n, ``H_f`` the final hash, see :mod:`fedloom.crypto.rsa_blind`)::

    guest → host   PSI_HELLO            settings and n_g (the host checks them against its own)
    host  → guest  RSA_HOST_PUBKEY      (n, e)
    guest → host   RSA_BLINDED          r_v^e · H(v) mod n for every guest id v (guest's order)
    host  → guest  RSA_HOST_SIGNED      H_f(H(u)^d mod n) for every host id u (host's order; CRT)
    host  → guest  RSA_SIGNED_BLINDED   (r_v^e·H(v))^d = r_v·H(v)^d mod n, in the guest's order
    guest          unblinds (·r_v⁻¹), applies H_f and joins with RSA_HOST_SIGNED
    guest → host   PSI_INTERSECTION     (sync_intersect_ids) positions of the final intersection

The key owner does all the exponentiations with ``d`` (n_g + n_h of them); the guest only blinds.
For large inputs, hashing into Z_n and signing run block-wise on the party's executor
(:mod:`fedloom.compute.psi`: same values; the private key goes to the party's own workers only);
blinding and unblinding run in the party's process.

``split_calculation``: ids are split by ``H(x) % 2`` (a key-independent hash, so equal ids land
in the same half). Half 0 runs the flow above under the host's key. Half 1 runs it mirrored under
a key of the guest's (one guest key for all hosts), with the host as the joiner::

    guest → host   RSA_GUEST_PUBKEY          (n_G, e_G)
    guest → host   RSA_GUEST_SIGNED          H_f(H(v)^d_G) for the guest's half-1 ids
    host  → guest  RSA_HOST_BLINDED          r_u^e_G · H(u) mod n_G for the host's half-1 ids
    guest → host   RSA_GUEST_SIGNED_BLINDED  r_u · H(u)^d_G mod n_G
    host           unblinds, applies H_f, joins with RSA_GUEST_SIGNED
    host  → guest  RSA_HOST_MATCHES          (position in RSA_GUEST_SIGNED, host position) pairs

so each party performs about (n_g + n_h)/2 private-key exponentiations and sends about the same
bytes, and the two halves' exponentiations run at the same time on both sides. The host cannot
be sent its own half-1 signatures for the guest to join: the guest owns that key and could then
test guessed ids against them, so the key owner of each half never sees the other side's
signatures, and the joiner of half 1 is the host.

``random_base_fraction`` (both blinders): reuse precomputed (r, r^e, r⁻¹) triples at random,
see :class:`fedloom.crypto.rsa_blind.BlindingPool`.

**Cache** (FATE's ``run_cache`` and cache loader; split off). A cache run does only the host's
half that does not depend on the guest's ids, and each side keeps what it got::

    guest → host   PSI_HELLO            settings (n_g)
    host  → guest  RSA_HOST_PUBKEY      (n, e)
    host  → guest  RSA_HOST_SIGNED      H_f(H(u)^d mod n) for every host id u
    host keeps (p, q, e) and a digest of its id list; the guest keeps (n, e) and the signed hashes

A later cached run (``cache`` input) skips key generation and the n_h signatures::

    guest → host   PSI_HELLO            settings, with the cache id both sides loaded
    guest → host   RSA_BLINDED          r_v^e · H(v) mod n, under the cached key
    host  → guest  RSA_SIGNED_BLINDED   r_v · H(v)^d mod n
    guest          unblinds, joins with the cached RSA_HOST_SIGNED
    guest → host   PSI_INTERSECTION     (sync_intersect_ids)

The host refuses a cached run when its id list is not the one it cached (the cached signatures
would not be its ids'). Reusing the key across jobs discloses nothing new to the host (blinding
is fresh per run); the guest can join new runs' ids against the cached host signatures, which is
what a fresh run would show it too — but if the host's ids changed, the cache must be remade.

What each party learns (semi-honest)
------------------------------------
- guest: the intersection, the host's id count (per half with split), and for each match the
  position of that id in the host's list; the host's other ids stay hidden behind signatures it
  cannot compute (RSA assumption, H_f a random oracle).
- host: the guest's id count (per half with split); blinded values are uniform in Z_n* with fresh
  r, so nothing about the guest's ids; the intersection only with ``sync_intersect_ids``. With
  ``random_base_fraction`` it can test guessed pairs of guest ids (see BlindingPool).
- with split, each host also learns which of its half-1 ids (about half of its pairwise
  intersection with the guest) are in that pairwise intersection, **whatever
  sync_intersect_ids says**: the price of the symmetric work. It still learns nothing about the
  guest's other ids, and nothing about the intersection across several hosts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gmpy2
import numpy as np

from fedloom.compute.psi import rsa_hash, rsa_sign
from fedloom.context import Context
from fedloom.core import ConfigError, MessageError, PartyId
from fedloom.crypto.ecdh import check_array, points_to_array
from fedloom.crypto.rsa_blind import (
    BlindingPool,
    RsaPrivateKey,
    RsaPublicKey,
    array_to_ints,
    final_hash,
    final_hash_size,
    generate_key,
    id_parity,
    ints_to_array,
)
from fedloom.protocols.psi.common import PsiOutcome, PsiSettings, guest_finish, host_finish, join
from fedloom.protocols.psi.messages import (
    RSA_BLINDED,
    RSA_GUEST_PUBKEY,
    RSA_GUEST_SIGNED,
    RSA_GUEST_SIGNED_BLINDED,
    RSA_HOST_BLINDED,
    RSA_HOST_MATCHES,
    RSA_HOST_PUBKEY,
    RSA_HOST_SIGNED,
    RSA_SIGNED_BLINDED,
)

log = logging.getLogger(__name__)


def _check_matches(arr: object, n_guest1: int, n_host1: int) -> np.ndarray:
    """A host's half-1 answer: ``(k, 2)`` int64 rows (guest position, host position), in range."""
    if isinstance(arr, np.ndarray) and arr.dtype == np.int64 and arr.ndim == 2 and arr.shape[1] == 2:
        g, h = arr[:, 0], arr[:, 1]
        if len(arr) == 0 or (
            g.min() >= 0
            and g.max() < n_guest1
            and h.min() >= 0
            and h.max() < n_host1
            and len(np.unique(g)) == len(arr) == len(np.unique(h))
        ):
            return arr
    raise MessageError(
        f"rsa_host_matches must be distinct (guest, host) int64 pairs within ({n_guest1}, {n_host1})",
        field="rsa_host_matches",
    )


def _pubkey_msg(key: RsaPrivateKey) -> dict[str, Any]:
    return {"n": key.public.to_bytes(), "e": int(key.public.e)}


def _pubkey_from(msg: object, ctx: Context) -> RsaPublicKey:
    if not isinstance(msg, dict):
        raise MessageError("an RSA public key message is a dict", party=str(ctx.party), field="public_key")
    try:
        return RsaPublicKey.from_wire(msg.get("n"), msg.get("e"))
    except MessageError as exc:
        raise MessageError(exc.message, party=str(ctx.party), field="public_key") from None


@dataclass(kw_only=True)
class _RsaPsi(PsiSettings):
    """Settings shared by both sides (each blinder chooses its own ``random_base_fraction``)."""

    method: ClassVar[str] = "rsa"
    final_hash_method: str = "sha256"
    key_length: int = 2048
    random_base_fraction: float | None = field(default=None, metadata={"local": True})
    split_calculation: bool = False
    #: ``""``, or the id of the cache both sides loaded (``{job_id}/{component}`` of the cache run).
    cache: str = ""

    def _cache_meta(self) -> dict[str, Any]:
        return {
            "method": "rsa",
            "cache": self.cache,
            "hash_method": self.hash_method,
            "final_hash_method": self.final_hash_method,
            "salt": self.salt,
            "key_length": self.key_length,
        }

    def _halves(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the ids signed under the host's key (half 0) and the guest's (half 1)."""
        if not self.split_calculation:
            return np.arange(len(ids), dtype=np.int64), np.zeros(0, dtype=np.int64)
        parity = id_parity(ids, self.hash_method, self.salt)
        return np.flatnonzero(parity == 0).astype(np.int64), np.flatnonzero(parity == 1).astype(np.int64)

    def _signed_digests(self, key: RsaPrivateKey, ids: list[str]) -> np.ndarray:
        """``H_f(sign(H(x)))`` for the signer's own ids, one row each."""
        # Large inputs go block-wise through the party's executor (issue 16); same values.
        hashed = rsa_hash(key.public, ids, self.hash_method, self.salt)
        digests = final_hash(rsa_sign(key, hashed), key.public, self.final_hash_method)
        return points_to_array(digests, final_hash_size(self.final_hash_method))

    def _blind(self, public: RsaPublicKey, ids: list[str]) -> tuple[BlindingPool, np.ndarray]:
        # Hashing may run on the executor; the blinding factors are drawn here (fresh randomness).
        hashed = rsa_hash(public, ids, self.hash_method, self.salt)
        pool = BlindingPool(public, len(ids), self.random_base_fraction)
        return pool, ints_to_array(pool.blind(hashed), public.nbytes)

    def _unblind(self, pool: BlindingPool, arr: object, what: str) -> np.ndarray:
        signed = array_to_ints(arr, pool.public, count=pool.count, what=what)
        digests = final_hash(pool.unblind(signed), pool.public, self.final_hash_method)
        return points_to_array(digests, final_hash_size(self.final_hash_method))

    def _sign_blinded(self, key: RsaPrivateKey, arr: object, limit: int, what: str) -> np.ndarray:
        values = array_to_ints(arr, key.public, what=what)
        if len(values) > limit:
            raise MessageError(f"{what}: {len(values)} values for at most {limit} ids", field=what)
        return ints_to_array(rsa_sign(key, values), key.public.nbytes)

    def _digests(self, arr: object, what: str, count: int | None = None) -> np.ndarray:
        return check_array(arr, width=final_hash_size(self.final_hash_method), count=count, what=what)


class RsaPsiGuest(_RsaPsi):
    """The guest side: blinds (and with split also signs), joins, tells hosts the result.

    Parameters
    ----------
    hash_method, final_hash_method, salt
        H and H_f (FATE's ``rsa_params``); both sides must agree.
    key_length
        Bits of every RSA key generated (the guest's only with ``split_calculation``).
    random_base_fraction
        ``None`` (fresh blinding per id) or the fraction of blinding factors precomputed and reused.
    split_calculation
        Split ids by ``H(x) % 2`` between the host's and the guest's key.
    sync
        Send each host the final intersection.
    """

    def run(self, ctx: Context, ids: Sequence[str]) -> PsiOutcome:
        """Run the protocol with every host of ``ctx``; ``ids`` are this party's distinct ids."""
        ids = list(ids)
        hosts = ctx.hosts
        self.send_hello(ctx, len(ids))
        g0, g1 = self._halves(ids)
        ids0 = [ids[i] for i in g0]
        ids1 = [ids[i] for i in g1]
        my_key: RsaPrivateKey | None = None
        if self.split_calculation:
            my_key = generate_key(self.key_length)
            ctx.send(RSA_GUEST_PUBKEY, _pubkey_msg(my_key))
        pools: dict[PartyId, BlindingPool] = {}
        for host in hosts:
            public = _pubkey_from(ctx.recv(RSA_HOST_PUBKEY, frm=host), ctx)
            pools[host], blinded = self._blind(public, ids0)
            ctx.send(RSA_BLINDED, blinded, to=host)
        host1_counts: dict[PartyId, int] = {}
        if my_key is not None:
            # Half 1, key owner: the hosts get H_f(sign_G(H(v))) (they cannot compute sign_G),
            # sign their blinded ids, and join; they answer with the matched positions.
            ctx.send(RSA_GUEST_SIGNED, self._signed_digests(my_key, ids1))
            for host in hosts:
                blinded1 = array_to_ints(
                    ctx.recv(RSA_HOST_BLINDED, frm=host), my_key.public, what="rsa_host_blinded"
                )
                host1_counts[host] = len(blinded1)
                signed = ints_to_array(rsa_sign(my_key, blinded1), my_key.public.nbytes)
                ctx.send(RSA_GUEST_SIGNED_BLINDED, signed, to=host)
        matches: dict[PartyId, tuple[np.ndarray, np.ndarray]] = {}
        for host in hosts:
            host0 = self._digests(ctx.recv(RSA_HOST_SIGNED, frm=host), "rsa_host_signed")
            mine0 = self._unblind(pools[host], ctx.recv(RSA_SIGNED_BLINDED, frm=host), "rsa_signed_blinded")
            gi, hi = join(mine0, host0)
            g_rows, h_rows = [g0[gi]], [hi]
            if my_key is not None:
                pairs = _check_matches(ctx.recv(RSA_HOST_MATCHES, frm=host), len(g1), host1_counts[host])
                g_rows.append(g1[pairs[:, 0]])
                h_rows.append(pairs[:, 1] + len(host0))  # the host numbers its half-1 ids after half 0
            g_all, h_all = np.concatenate(g_rows), np.concatenate(h_rows)
            order = np.argsort(g_all)
            matches[host] = (g_all[order], h_all[order])
            log.debug("rsa psi with %s: %d of %d guest ids matched", host, len(g_all), len(ids))
        return guest_finish(ctx, matches, sync=self.sync, cardinality_only=False)

    def make_cache(self, ctx: Context, ids: Sequence[str]) -> dict[str, Any]:
        """Cache run: every host's public key and signed id hashes (see the module docstring)."""
        self.send_hello(ctx, len(ids))
        hosts: dict[str, Any] = {}
        for host in ctx.hosts:
            public = _pubkey_from(ctx.recv(RSA_HOST_PUBKEY, frm=host), ctx)
            signed = self._digests(ctx.recv(RSA_HOST_SIGNED, frm=host), "rsa_host_signed")
            hosts[str(host)] = {"n": format(public.n, "x"), "e": public.e, "signed": signed.tobytes().hex()}
        return {**self._cache_meta(), "role": "guest", "hosts": hosts}

    def run_cached(self, ctx: Context, ids: Sequence[str], cache: dict[str, Any]) -> PsiOutcome:
        """A run with the cached host keys and signed hashes (this object's settings from the cache)."""
        ids = list(ids)
        self.send_hello(ctx, len(ids))
        width = final_hash_size(self.final_hash_method)
        pools: dict[PartyId, BlindingPool] = {}
        cached: dict[PartyId, np.ndarray] = {}
        for host in ctx.hosts:
            entry = _cache_entry(cache, host, ctx)
            public = RsaPublicKey(int(entry["n"], 16), int(entry["e"]))
            cached[host] = np.frombuffer(bytes.fromhex(entry["signed"]), dtype=np.uint8).reshape(-1, width)
            pools[host], blinded = self._blind(public, ids)
            ctx.send(RSA_BLINDED, blinded, to=host)
        matches: dict[PartyId, tuple[np.ndarray, np.ndarray]] = {}
        for host in ctx.hosts:
            mine = self._unblind(pools[host], ctx.recv(RSA_SIGNED_BLINDED, frm=host), "rsa_signed_blinded")
            matches[host] = join(mine, cached[host])
        return guest_finish(ctx, matches, sync=self.sync, cardinality_only=False)


def _cache_entry(cache: dict[str, Any], host: PartyId, ctx: Context) -> dict[str, Any]:
    entry = cache.get("hosts", {}).get(str(host)) if isinstance(cache.get("hosts"), dict) else None
    if not isinstance(entry, dict) or not {"n", "e", "signed"} <= set(entry):
        raise ConfigError(
            f"the loaded cache holds nothing for {host}: it was made by a job with other hosts",
            party=str(ctx.party),
            field="cache",
        )
    return entry


def ids_digest(ids: Sequence[str]) -> str:
    """SHA-256 of the id list, in order (a host's cache is valid for exactly this list)."""
    h = hashlib.sha256()
    for x in ids:
        raw = x.encode("utf-8")
        h.update(len(raw).to_bytes(4, "big") + raw)
    return h.hexdigest()


def _key_from_cache(cache: dict[str, Any], ctx: Context) -> RsaPrivateKey:
    try:
        p, q, e = gmpy2.mpz(int(cache["p"], 16)), gmpy2.mpz(int(cache["q"], 16)), int(cache["e"])
        d = gmpy2.invert(e, gmpy2.lcm(p - 1, q - 1))
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise ConfigError(
            f"the loaded cache holds no usable RSA key ({exc})", party=str(ctx.party), field="cache"
        ) from None
    public = RsaPublicKey(int(p * q), e)
    return RsaPrivateKey(public, p, q, d % (p - 1), d % (q - 1), gmpy2.invert(q, p))


class RsaPsiHost(_RsaPsi):
    """The host side: owns an RSA key, signs; with split also blinds under the guest's key.

    Parameters are those of :class:`RsaPsiGuest` and must equal the guest's (checked).
    """

    def run(self, ctx: Context, ids: Sequence[str]) -> PsiOutcome:
        """Run the protocol with the guest; ``ids`` are this party's distinct ids."""
        ids = list(ids)
        n_guest = self.recv_hello(ctx)
        key = generate_key(self.key_length)
        ctx.send(RSA_HOST_PUBKEY, _pubkey_msg(key))
        h0, h1 = self._halves(ids)
        pool1: BlindingPool | None = None
        if self.split_calculation:
            guest_public = _pubkey_from(ctx.recv(RSA_GUEST_PUBKEY), ctx)
            pool1, blinded = self._blind(guest_public, [ids[i] for i in h1])
            ctx.send(RSA_HOST_BLINDED, blinded)
        ctx.send(RSA_HOST_SIGNED, self._signed_digests(key, [ids[i] for i in h0]))
        signed = self._sign_blinded(key, ctx.recv(RSA_BLINDED), n_guest, "rsa_blinded")
        ctx.send(RSA_SIGNED_BLINDED, signed)
        if pool1 is not None:
            mine1 = self._unblind(pool1, ctx.recv(RSA_GUEST_SIGNED_BLINDED), "rsa_guest_signed_blinded")
            guest1 = self._digests(ctx.recv(RSA_GUEST_SIGNED), "rsa_guest_signed")
            if len(guest1) > n_guest:
                raise MessageError(
                    f"rsa_guest_signed: {len(guest1)} values for {n_guest} guest ids",
                    party=str(ctx.party),
                    field="rsa_guest_signed",
                )
            hj, gj = join(mine1, guest1)
            ctx.send(RSA_HOST_MATCHES, np.stack([gj, hj], axis=1).astype(np.int64).reshape(-1, 2))
        return host_finish(
            ctx, len(ids), sync=self.sync, cardinality_only=False, order=np.concatenate([h0, h1])
        )

    def make_cache(self, ctx: Context, ids: Sequence[str]) -> dict[str, Any]:
        """Cache run: a key, the signed hashes of every id sent to the guest; keeps the key.

        The returned dict holds the private key: it is this host's own artifact, never sent.
        """
        ids = list(ids)
        self.recv_hello(ctx)
        key = generate_key(self.key_length)
        ctx.send(RSA_HOST_PUBKEY, _pubkey_msg(key))
        ctx.send(RSA_HOST_SIGNED, self._signed_digests(key, ids))
        return {
            **self._cache_meta(),
            "role": "host",
            "p": format(int(key.p), "x"),
            "q": format(int(key.q), "x"),
            "e": key.public.e,
            "ids_sha256": ids_digest(ids),
            "n_ids": len(ids),
        }

    def run_cached(self, ctx: Context, ids: Sequence[str], cache: dict[str, Any]) -> PsiOutcome:
        """A run with the cached key: signs the guest's blinded ids only."""
        ids = list(ids)
        n_guest = self.recv_hello(ctx)
        if cache.get("ids_sha256") != ids_digest(ids):
            raise ConfigError(
                f"this host's ids ({len(ids)}) are not the {cache.get('n_ids')} ids the cache was made "
                "from; the cached signatures would not be this table's. Rerun the cache job.",
                party=str(ctx.party),
                field="cache",
            )
        key = _key_from_cache(cache, ctx)
        ctx.send(RSA_SIGNED_BLINDED, self._sign_blinded(key, ctx.recv(RSA_BLINDED), n_guest, "rsa_blinded"))
        return host_finish(ctx, len(ids), sync=self.sync, cardinality_only=False)
