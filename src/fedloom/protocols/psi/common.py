"""Steps shared by the PSI protocols: the settings handshake, the join and the final exchange."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from fedloom.context import Channel, Context
from fedloom.core import ConfigError, MessageError, PartyId
from fedloom.crypto.wire import check_array
from fedloom.protocols.psi.messages import PSI_CARDINALITY, PSI_HELLO, PSI_INTERSECTION

log = logging.getLogger(__name__)

#: Bytes of a doubly-encrypted value kept for the join (collision chance ~ n_g·n_h / 2^128).
JOIN_BYTES = 16


@dataclass
class PsiOutcome:
    """What one party holds after a PSI run.

    Attributes
    ----------
    index
        Positions (into this party's own id list, ascending) of the ids in the final
        intersection; ``None`` where this party does not learn it (a host without sync, anyone
        in cardinality-only mode).
    count
        Size of the final intersection, ``None`` where this party does not learn it.
    per_host
        Guest only: the size of the intersection with each host (before crossing hosts).
    """

    index: np.ndarray | None
    count: int | None
    per_host: dict[str, int] = field(default_factory=dict)


@dataclass(kw_only=True)
class PsiSettings:
    """One side's settings of a PSI method; the guest sends them in PSI_HELLO, the host compares.

    Each method's base class adds its own fields; a field declared with
    ``metadata={"local": True}`` is this side's own choice and is neither sent nor compared.
    ``preprocess`` describes the Bloom-filter step that ran before the PSI (empty: none; see
    :mod:`fedloom.protocols.psi.preprocess`), so both sides are checked to have run the same.
    """

    method: ClassVar[str]
    hash_method: str = "sha256"
    salt: str = ""
    sync: bool = True
    preprocess: str = ""

    def settings(self) -> dict[str, Any]:
        """The settings both sides must agree on, with the method's name."""
        agreed = {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get("local")}
        return {"method": self.method, **agreed}

    def send_hello(self, ctx: Context, n_ids: int) -> None:
        """Guest: send the run's settings and its id count to every host."""
        if not ctx.hosts:
            raise ConfigError("intersection needs at least one host; the job has none", party=str(ctx.party))
        ctx.send(PSI_HELLO, {**settings_digest(self.settings()), "n_ids": int(n_ids)})

    def recv_hello(self, ctx: Context) -> int:
        """Host: check the guest's settings against its own; returns the guest's id count."""
        hello = ctx.recv(PSI_HELLO)
        if not isinstance(hello, dict):
            raise MessageError("psi_hello must be a dict", party=str(ctx.party), field="psi_hello")
        for key, value in settings_digest(self.settings()).items():
            if hello.get(key) != value:
                shown = "<differs>" if key == "salt" else repr(hello.get(key))
                raise ConfigError(
                    f"the guest runs intersection with {key}={shown}, this host with "
                    f"{'<its own>' if key == 'salt' else repr(value)}; both sides need the same setting",
                    party=str(ctx.party),
                    field=key,
                )
        n = hello.get("n_ids")
        if not isinstance(n, int) or n < 0:
            raise MessageError("psi_hello carries no id count", party=str(ctx.party), field="n_ids")
        return n


class CommutativePsi(PsiSettings):
    """The guest and host flows shared by the commutative-encryption methods (DH, ECDH).

    A method's settings dataclass derives from this and declares ``cardinality_only``; it
    supplies its three channels (``host values, guest values, double values``) and the hooks
    below, which hash ids into its group, encrypt under one key, (de)serialise and cut values
    down to the join keys. See :mod:`fedloom.protocols.psi.ecdh` for the message flow.
    """

    cardinality_only: bool
    channels: ClassVar[tuple[Channel, Channel, Channel]]

    def _check(self) -> None:
        """Guest and host: check the method's own settings before anything is sent."""

    def _new_key(self) -> Any:
        raise NotImplementedError

    def _hash(self, key: Any, ids: Sequence[str]) -> list[Any]:
        raise NotImplementedError

    def _encrypt(self, key: Any, values: list[Any]) -> list[Any]:
        raise NotImplementedError

    def _to_array(self, values: list[Any]) -> np.ndarray:
        raise NotImplementedError

    def _from_array(self, arr: object, *, what: str, count: int | None = None) -> list[Any]:
        raise NotImplementedError

    def _join_keys(self, values: list[Any]) -> np.ndarray:
        raise NotImplementedError

    def _permutation(self, n: int) -> np.ndarray:
        return random_permutation(n)


class CommutativeGuest(CommutativePsi):
    """The guest side of a commutative-encryption method (mixed in after its settings class)."""

    def run(self, ctx: Context, ids: Sequence[str]) -> PsiOutcome:
        """Run the protocol with every host of ``ctx``; ``ids`` are this party's distinct ids."""
        hosts = ctx.hosts
        if self.cardinality_only and len(hosts) != 1:
            raise ConfigError(
                f"cardinality_only works with exactly one host, the job has {len(hosts)}: the guest "
                "cannot cross hosts' results without learning which ids matched",
                party=str(ctx.party),
                field="cardinality_only",
            )
        self._check()
        self.send_hello(ctx, len(ids))
        host_channel, guest_channel, double_channel = self.channels
        keys = {h: self._new_key() for h in hosts}
        hashed = self._hash(next(iter(keys.values())), ids)
        for host, key in keys.items():
            ctx.send(guest_channel, self._to_array(self._encrypt(key, hashed)), to=host)
        matches = {}
        for host, key in keys.items():
            host_values = self._from_array(ctx.recv(host_channel, frm=host), what=host_channel.name)
            host_keys = self._join_keys(self._encrypt(key, host_values))
            double = check_array(
                ctx.recv(double_channel, frm=host),
                width=JOIN_BYTES,
                count=len(ids),
                what=double_channel.name,
            )
            matches[host] = join(double, host_keys)
            log.debug(
                "%s psi with %s: %d of %d guest ids matched",
                self.method,
                host,
                len(matches[host][0]),
                len(ids),
            )
        return guest_finish(ctx, matches, sync=self.sync, cardinality_only=self.cardinality_only)


class CommutativeHost(CommutativePsi):
    """The host side of a commutative-encryption method (mixed in after its settings class)."""

    def run(self, ctx: Context, ids: Sequence[str]) -> PsiOutcome:
        """Run the protocol with the guest; ``ids`` are this party's distinct ids."""
        n_guest = self.recv_hello(ctx)
        self._check()
        host_channel, guest_channel, double_channel = self.channels
        key = self._new_key()
        mine = self._encrypt(key, self._hash(key, ids))
        if self.cardinality_only:
            order = self._permutation(len(mine))
            mine = [mine[i] for i in order]
        ctx.send(host_channel, self._to_array(mine))
        guest_values = self._from_array(ctx.recv(guest_channel), count=n_guest, what=guest_channel.name)
        double = self._join_keys(self._encrypt(key, guest_values))
        if self.cardinality_only:
            double = double[self._permutation(len(double))]
        ctx.send(double_channel, np.ascontiguousarray(double))
        return host_finish(ctx, len(ids), sync=self.sync, cardinality_only=self.cardinality_only)


def random_permutation(n: int) -> np.ndarray:
    """A uniformly random order of ``range(n)``, from a fresh OS-seeded generator."""
    return np.random.default_rng(secrets.randbits(128)).permutation(n)


def settings_digest(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as sent in PSI_HELLO: the salt replaced by its SHA-256 (it stays private)."""
    out = dict(settings)
    if "salt" in out:
        out["salt"] = hashlib.sha256(str(out["salt"]).encode("utf-8")).hexdigest()
    return out


def join(guest_keys: np.ndarray, host_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows equal in both ``(n, w)`` uint8 arrays: ``(guest_rows, host_rows)``, aligned.

    Rows are compared as fixed-width byte strings through one sort (``np.intersect1d``).
    """
    if guest_keys.shape[0] == 0 or host_keys.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    w = guest_keys.shape[1]
    g = np.ascontiguousarray(guest_keys).view(f"S{w}").ravel()
    h = np.ascontiguousarray(host_keys).view(f"S{w}").ravel()
    _, gi, hi = np.intersect1d(g, h, assume_unique=True, return_indices=True)
    return gi.astype(np.int64), hi.astype(np.int64)


def guest_finish(
    ctx: Context,
    matches: Mapping[PartyId, tuple[np.ndarray, np.ndarray]],
    *,
    sync: bool,
    cardinality_only: bool,
) -> PsiOutcome:
    """Guest: cross the per-host matches, tell hosts what the settings say they may learn.

    ``matches[host] = (guest_rows, host_rows)`` from :func:`join`. Without cardinality_only and
    with ``sync``, each host gets the positions (in its own order) of the final intersection.
    With cardinality_only (one host), ``guest_rows`` are meaningless positions of a shuffled
    list: only their number is used, sent to the host when ``sync``.
    """
    per_host = {str(h): len(g) for h, (g, _) in matches.items()}
    if cardinality_only:
        count = sum(per_host.values())
        if sync:
            ctx.send(PSI_CARDINALITY, count)
        return PsiOutcome(None, count, per_host)
    final: np.ndarray | None = None
    for g, _ in matches.values():
        final = g if final is None else np.intersect1d(final, g, assume_unique=True)
    assert final is not None
    final = np.sort(final).astype(np.int64)
    if sync:
        for host, (g, h) in matches.items():
            keep = np.isin(g, final, assume_unique=True)
            ctx.send(PSI_INTERSECTION, np.sort(h[keep]).astype(np.int64), to=host)
    return PsiOutcome(final, len(final), per_host)


def host_finish(
    ctx: Context, n_ids: int, *, sync: bool, cardinality_only: bool, order: np.ndarray | None = None
) -> PsiOutcome:
    """Host: receive what the guest sends at the end (nothing without sync).

    ``order[j]`` is the position in this host's id list of the j-th value it sent the guest
    (default: the identity); the guest's positions are mapped back through it.
    """
    if not sync:
        return PsiOutcome(None, None)
    if cardinality_only:
        count = ctx.recv(PSI_CARDINALITY)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= n_ids:
            raise MessageError(
                f"psi_cardinality must be an int in [0, {n_ids}]",
                party=str(ctx.party),
                field="psi_cardinality",
            )
        return PsiOutcome(None, count)
    idx = ctx.recv(PSI_INTERSECTION)
    if not isinstance(idx, np.ndarray) or idx.ndim != 1 or idx.dtype != np.int64:
        raise MessageError(
            "psi_intersection must be a 1-D int64 array", party=str(ctx.party), field="psi_intersection"
        )
    if len(idx) and (idx.min() < 0 or idx.max() >= n_ids or np.any(np.diff(idx) <= 0)):
        raise MessageError(
            f"psi_intersection must hold ascending distinct positions in [0, {n_ids})",
            party=str(ctx.party),
            field="psi_intersection",
        )
    own = np.array(idx, dtype=np.int64) if order is None else np.sort(order[idx]).astype(np.int64)
    return PsiOutcome(own, len(own))
