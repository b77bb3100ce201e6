r"""Where the hetero GLM's encryptions of zero come from: the speed machinery, in one place.

Every ciphertext the guest or a host sends is randomised by a fresh encryption of zero
:math:`r^n` (an obfuscator); making them is most of the cost of Paillier encryption. Two ways,
chosen by ``encrypt_param.obfuscators``:

``arbiter`` (default)
    The arbiter, idle otherwise and owning the key (CRT: about ``GUEST_ZERO_COST`` times cheaper
    per value), makes them in a background thread (:class:`ZeroMaker`): it starts right after key
    generation, while the others still prepare their data, and keeps making the next batch's
    while they compute, at the lowest scheduling priority after the first batch (``ZEROS_NICE``),
    so that it takes only the CPU time they leave. Each batch it sends every party ``n_b`` of
    them (``ZEROS``), hosts first. With Paillier the guest makes its own in a background pool
    while it waits; when the arbiter is short it sends the guest fewer (:meth:`ZeroMaker.share`
    balances the two) and the guest tops up (:func:`complete_zeros`).
``local``
    Each party draws its own obfuscators in a background
    :class:`~fedloom.crypto.paillier.ObfuscatorPool`.

Either way each value is data-independent (:math:`h_s^a` with its own fresh :math:`a`), is used
once, by one party. Why the arbiter knowing the randomness of its zeros is harmless — every
ciphertext it decrypts is re-randomised by its sender first — is argued in
:mod:`fedloom.ml.hetero.glm`.

One entry point per side; the roles see nothing else::

    zeros = ArbiterZeros.for_arbiter(sk, params)              # arbiter, right after key generation
    zeros.expect(setup.plan, n_parties, n_batches)             # the plan is known
    for party, batch_zeros in zeros.hand_out(hosts, guest, n_b):
        ctx.send(ZEROS, batch_zeros, to=party)

    zeros = PartyZeros.for_party(pk, params, plan, tops_up=True)   # guest (hosts: tops_up=False)
    batch = zeros.take(n_b, lambda: ctx.recv(ZEROS), arbiter)      # this batch's
    d = batch.hide(d)                   # guest: [d] + [0]
    fw = batch.encrypt(f, frac_bits)    # host: [0] + f
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass

import numpy as np

from fedloom.core.errors import ProtocolError
from fedloom.core.roles import PartyId
from fedloom.crypto.paillier import ObfuscatorPool
from fedloom.ml.hetero.glm.batch import BatchPlan
from fedloom.ml.hetero.glm.ciphers import KeyOwner, PublicKey, Vector, vector_like
from fedloom.ml.hetero.glm.messages import expect_cipher, with_scale
from fedloom.ml.hetero.glm.params import GLMParams

log = logging.getLogger(__name__)

#: Encryptions of zero made per step, between checks for cancellation.
ZEROS_CHUNK = 2048
#: Encryptions of zero made ahead while the guest and hosts prepare, before the row count is known.
ZEROS_AHEAD = 1 << 16
#: How much slower the guest makes an encryption of zero than the arbiter (public key vs CRT).
GUEST_ZERO_COST = 1.3
#: Scheduling niceness of the zero thread after the first batch (Linux): it then runs on the CPU
#: time the guest and hosts leave, instead of slowing their gradients down.
ZEROS_NICE = 19
#: Obfuscators a party's background pool makes per refill step.
POOL_BATCH = 256


# -- the arbiter's side ----------------------------------------------------------------------------
class ZeroMaker:
    """Fresh encryptions of zero, made by a background thread while the parties work.

    The arbiter owns the key, so it uses the CRT obfuscator. Each value is data-independent
    (an obfuscator :math:`h_s^a` with its own fresh exponent), is handed out exactly once and
    goes to exactly one party. The thread starts at once and makes up to ``ahead`` values while
    the guest and hosts still prepare their data; once the batch plan is known, :meth:`plan` sets
    how many more to make (the speculative remainder is dropped), and :meth:`take` waits for the
    values a party needs, so a party can start as soon as its own zeros are ready while the next
    party's are still being made.
    """

    def __init__(self, sk: KeyOwner, ahead: int = ZEROS_AHEAD) -> None:
        self.sk = sk
        self._cond = threading.Condition()
        self._queue: collections.deque[int] = collections.deque()
        self._ordered = max(0, ahead)  # values to make in all (cumulative)
        self._produced = 0
        self._taken = 0
        self._stopped = False
        self._error: BaseException | None = None
        self._template: Vector | None = None  # a chunk made: the kind and key of what take() returns
        self._rate = 0.0  # values per second of the latest chunk
        self._thread = threading.Thread(target=self._run, name="fedloom-glm-zeros", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._stopped and self._produced >= self._ordered:
                        self._cond.wait()
                    if self._stopped:
                        return
                    count = min(ZEROS_CHUNK, self._ordered - self._produced)
                t0 = time.perf_counter()
                chunk = self.sk.encrypt_ints(np.zeros(count, dtype=np.int64))
                seconds = time.perf_counter() - t0
                with self._cond:
                    self._rate = count / seconds if seconds > 0 else 0.0
                    self._template = chunk
                    self._queue.extend(chunk.ciphertexts)
                    self._produced += count
                    self._cond.notify_all()
        except BaseException as exc:  # surfaced by take()
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def yield_cpu(self) -> None:
        """Lower the thread's scheduling priority (Linux only; a no-op elsewhere or when refused).

        While the guest and hosts compute, the zeros of the next batch only need the CPU time
        they leave; when they wait for zeros, this thread runs alone at full speed anyway.
        """
        tid = self._thread.native_id
        if sys.platform != "linux" or tid is None:
            return
        try:
            os.setpriority(os.PRIO_PROCESS, tid, ZEROS_NICE)
        except OSError:  # pragma: no cover - not permitted here
            log.debug("could not lower the priority of the zero thread")

    def plan(self, count: int) -> None:
        """Make sure ``count`` values beyond those taken will be made, and no more are started."""
        with self._cond:
            self._ordered = max(self._produced, self._taken + count)
            self._cond.notify_all()

    def share(self, count: int, since: float) -> int:
        """How many of ``count`` zeros to make for a party that makes the rest itself.

        The party (the guest, while it waits for its zeros) started making its own at ``since``
        (``perf_counter``), ``GUEST_ZERO_COST`` times slower per value than this thread: split
        so that both finish at about the same time.
        """
        with self._cond:
            stock, rate = len(self._queue), self._rate
        if rate <= 0:
            return count
        theirs = rate / GUEST_ZERO_COST * max(0.0, time.perf_counter() - since)
        ours = (stock + GUEST_ZERO_COST * (count - theirs)) / (1 + GUEST_ZERO_COST)
        return int(min(count, max(min(stock, count), round(ours))))

    def take(self, count: int) -> Vector:
        """``count`` fresh encryptions of zero (waits for the background thread)."""
        with self._cond:
            self._ordered = max(self._ordered, self._taken + count)
            self._cond.notify_all()
            while len(self._queue) < count and self._error is None and not self._stopped:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            if self._stopped:
                raise ProtocolError("the arbiter's zero maker was closed while a party waited for zeros")
            values = [self._queue.popleft() for _ in range(count)]
            self._taken += count
            template = self._template
        if template is None:  # count == 0 before anything was made
            return self.sk.encrypt_ints(np.zeros(0, dtype=np.int64))
        return vector_like(template, values, 0)

    def close(self) -> None:
        """Stop the thread and drop every value not handed out."""
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
        self._thread.join()


class ArbiterZeros:
    """The arbiter's supply of encryptions of zero for the guest and hosts (none with ``local``).

    Use :meth:`for_arbiter`; :meth:`close` when the fit ends.
    """

    def __init__(self, maker: ZeroMaker | None, helped: bool) -> None:
        self._maker = maker
        self._helped = helped  # the guest makes part of its own (Paillier)
        self._sizes: list[int] = []  # rows of each batch of an epoch
        self._parties = 0
        self._batches = 0  # batches the fit may have, in all
        self._handed = 0  # batches handed out so far
        self._since: float | None = None

    @classmethod
    def for_arbiter(cls, sk: KeyOwner, params: GLMParams) -> ArbiterZeros:
        """Start making zeros now (they need no data), if the parties take theirs from the arbiter."""
        ep = params.encrypt_param
        maker = ZeroMaker(sk) if ep.obfuscators == "arbiter" else None
        return cls(maker, helped=ep.method == "paillier")

    def expect(self, plan: BatchPlan, n_parties: int, n_batches: int) -> None:
        """The plan is known: make what the first batch needs and no more (for now).

        ``n_batches`` counts every batch of the fit (models × epochs × batches per epoch), so
        nothing is made ahead after the last. The guest has been making its own since it got
        the key; the first batch's split counts from now.
        """
        self._sizes, self._parties, self._batches = plan.sizes, n_parties, n_batches
        self._since = time.perf_counter()
        if self._maker is not None:
            self._maker.plan(n_parties * plan.sizes[0])

    def hand_out(self, hosts: list[PartyId], guest: PartyId, n_b: int) -> Iterator[tuple[PartyId, Vector]]:
        """This batch's ``n_b`` zeros for each host, then the guest; the next batch's are made meanwhile.

        The guest may get fewer (it makes the rest itself, :meth:`ZeroMaker.share`). Call once per
        batch, in order; with ``local`` obfuscators it hands out nothing.
        """
        since = self._since if self._since is not None else time.perf_counter()
        self._since = None
        i, self._handed = self._handed, self._handed + 1
        if self._maker is None:
            return
        last = i == self._batches - 1  # no batch after this one: make none ahead
        n_next = 0 if last else self._sizes[(i + 1) % len(self._sizes)]
        self._maker.plan(self._parties * (n_b + n_next))
        for party in [*hosts, guest]:
            count = self._maker.share(n_b, since) if party == guest and self._helped else n_b
            yield party, self._maker.take(count)
        self._maker.yield_cpu()

    def close(self) -> None:
        """Stop making zeros; those not handed out are dropped."""
        if self._maker is not None:
            self._maker.close()


# -- a party's side --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchZeros:
    """One batch's randomness for a party's ciphertexts: the arbiter's zeros or its own pool."""

    public_key: PublicKey
    zeros: Vector | None  # obfuscators: arbiter
    pool: ObfuscatorPool | None  # obfuscators: local (Paillier; None with the plain cipher)

    def hide(self, v: Vector) -> Vector:
        """``v`` re-randomised: plus this batch's zeros at its scale, or obfuscated from the pool."""
        if self.zeros is not None:
            return v + with_scale(self.zeros, v.frac_bits)
        return v.obfuscate(self.pool)

    def encrypt(self, values: np.ndarray, frac_bits: int) -> Vector:
        """``values`` encrypted at ``frac_bits``: this batch's zeros plus them, or from the pool."""
        if self.zeros is not None:
            return with_scale(self.zeros, frac_bits) + values
        return self.public_key.encrypt(values, frac_bits, pool=self.pool)


class PartyZeros:
    """A guest's or host's source of encryptions of zero, batch by batch.

    Use :meth:`for_party`; :meth:`close` when the fit ends.
    """

    def __init__(
        self,
        public_key: PublicKey,
        from_arbiter: bool,
        pool: ObfuscatorPool | None = None,
        head: ObfuscatorPool | None = None,
        tops_up: bool = False,
    ) -> None:
        self.public_key = public_key
        self.from_arbiter = from_arbiter
        self._pool = pool  # local: our obfuscators for every batch
        self._head = head  # from the arbiter: our own top-up of the first batch, started early
        self._tops_up = tops_up

    @classmethod
    def for_party(cls, pk: PublicKey, params: GLMParams, plan: BatchPlan, *, tops_up: bool) -> PartyZeros:
        """The supply ``params`` configure; background pools start now.

        ``tops_up``: this party (the guest) makes its own zeros while it waits for the arbiter's
        and accepts fewer than a batch needs (Paillier only).
        """
        ep = params.encrypt_param
        paillier = ep.method == "paillier"
        if ep.obfuscators == "local":
            pool = ObfuscatorPool(pk, capacity=max(plan.sizes), batch=POOL_BATCH) if paillier else None
            return cls(pk, from_arbiter=False, pool=pool)
        tops_up = tops_up and paillier
        head = ObfuscatorPool(pk, capacity=plan.sizes[0], batch=POOL_BATCH) if tops_up else None
        return cls(pk, from_arbiter=True, head=head, tops_up=tops_up)

    def take(self, n_b: int, receive: Callable[[], object], sender: str) -> BatchZeros:
        """This batch's zeros: ``receive()`` (the arbiter's ``ZEROS``, topped up) or the pool's."""
        if not self.from_arbiter:
            return BatchZeros(self.public_key, None, self._pool)
        own, self._head = self._head, None
        if own is None and self._tops_up:  # our own, made while we wait
            own = ObfuscatorPool(self.public_key, capacity=n_b, batch=POOL_BATCH)
        try:
            zeros = complete_zeros(receive(), self.public_key, n_b, own, sender)
        finally:
            if own is not None:
                own.close(wait=False)  # its last few values are dropped
        return BatchZeros(self.public_key, zeros, None)

    def close(self) -> None:
        """Stop the background pools."""
        for pool in (self._pool, self._head):
            if pool is not None:
                pool.close()


def complete_zeros(
    value: object, public_key: PublicKey, length: int, own: ObfuscatorPool | None, sender: str | None = None
) -> Vector:
    """The arbiter's encryptions of zero, topped up to ``length`` from the party's own pool.

    Without a pool (``own`` is None) exactly ``length`` values must arrive; with one, the arbiter
    may send fewer (when it is short) and the party adds fresh obfuscators of its own, each
    itself an encryption of zero.
    """
    if own is None:
        return expect_cipher(value, public_key, length, "zeros", sender)
    got = len(value) if isinstance(value, Sized) and hasattr(value, "public_key") else -1
    zeros = expect_cipher(value, public_key, min(max(got, 0), length), "zeros", sender)
    if got == length:
        return zeros
    return vector_like(zeros, zeros.ciphertexts + own.take(length - got), 0)
