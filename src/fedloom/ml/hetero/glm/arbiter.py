"""The arbiter's side of a hetero GLM: key owner, decrypts masked values, judges convergence.

See :mod:`fedloom.ml.hetero.glm` for the protocol and what each party learns.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import MessageError, ProtocolError
from fedloom.crypto.cipher import generate_keypair
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.glm import records
from fedloom.ml.hetero.glm.batch import BatchPlan, check_batch_sizes
from fedloom.ml.hetero.glm.guest import as_params
from fedloom.ml.hetero.glm.loss import Convergence, Family
from fedloom.ml.hetero.glm.model import GLMModel
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


class _ZeroMaker:
    """Fresh encryptions of zero, made by a background thread while the parties work.

    The arbiter owns the key, so it uses the CRT obfuscator. Each value is data-independent
    (an obfuscator :math:`h_s^a` with its own fresh exponent), is handed out exactly once and
    goes to exactly one party. The thread starts right after key generation and makes up to
    ``ahead`` values while the guest and hosts still prepare their data; once the batch plan is
    known, :meth:`plan` sets how many more to make (the speculative remainder is dropped), and
    :meth:`take` waits for the values a party needs, so a party can start as soon as its own
    zeros are ready while the next party's are still being made.
    """

    def __init__(self, sk: Any, ahead: int = ZEROS_AHEAD) -> None:
        self.sk = sk
        self._cond = threading.Condition()
        self._queue: collections.deque[Any] = collections.deque()
        self._ordered = max(0, ahead)  # values to make in all (cumulative)
        self._produced = 0
        self._taken = 0
        self._stopped = False
        self._error: BaseException | None = None
        self._cls: Any = None
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
                    self._cls = type(chunk)
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

    def take(self, count: int) -> Any:
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
            cls = self._cls
        if cls is None:  # count == 0 before anything was made
            return self.sk.encrypt_ints(np.zeros(0, dtype=np.int64))
        return cls(self.sk.public_key, values, 0)

    def close(self) -> None:
        """Stop the thread and drop every value not handed out."""
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
        self._thread.join()


@dataclass
class _Run:
    """What the arbiter's loop needs once setup is done."""

    p: GLMParams
    sk: Any
    plan: BatchPlan
    n_rows: int
    weights: dict[str, int]  # each party's gradient length: the one vector it may have decrypted
    zeros: _ZeroMaker | None
    validates: bool
    helps: bool


class GLMArbiter:
    """Arbiter role of a hetero GLM (subclassed per model: :class:`~fedloom.ml.hetero.lr.HeteroLRArbiter` …).

    Parameters
    ----------
    params
        The algorithm's params object, or a FATE-style dict (validated in :meth:`fit`).
    """

    params_class: ClassVar[type[GLMParams]] = GLMParams
    model_class: ClassVar[type[GLMModel]] = GLMModel
    family: ClassVar[Family] = Family()

    def __init__(self, params: Any = None) -> None:
        self.params = params

    def open_masked(self, sk: Any, masked: Any) -> list[int]:
        """Decrypt a masked gradient to its residues mod n (uniform: they reveal nothing)."""
        return [int(v) for v in sk.decrypt_packed_raw(masked)]

    def open_loss(self, sk: Any, loss: Any) -> float:
        """Decrypt the guest's batch loss ``n_b·loss_b`` (the arbiter learns it, by design)."""
        return float(sk.decrypt(loss)[0])

    def fit(self, ctx: Context) -> GLMModel:
        """Generate the key, decrypt masked gradients and losses, decide convergence.

        Returns
        -------
        GLMModel
            No weights: the loss history, epochs run and convergence of each model.

        Raises
        ------
        ConfigError
            The guest's batch plan has a batch too small for a party's weight count (names
            ``batch_size``), unless ``allow_small_batches``.
        MessageError
            A malformed message, or a party asking to decrypt anything but exactly its own
            gradient length (names the party).
        """
        p = as_params(self.params, self.params_class)
        ep = p.encrypt_param
        pk, sk = generate_keypair(ep.method, ep.key_length)
        ctx.send(msg.PUBLIC_KEY, pk)
        # Zeros need no data: start making them while the guest and hosts prepare theirs.
        zeros = _ZeroMaker(sk) if ep.obfuscators == "arbiter" else None
        try:
            return self._fit(ctx, p, sk, zeros)
        finally:
            if zeros is not None:
                zeros.close()

    def _fit(self, ctx: Context, p: GLMParams, sk: Any, zeros: _ZeroMaker | None) -> GLMModel:
        guest = ctx.guest
        raw = ctx.recv(msg.SETUP)
        t_setup = time.perf_counter()
        setup = records.Setup.from_wire(raw, str(guest))
        # Exactly what each party may have decrypted per batch: one vector of its weight count.
        weights = {str(guest): setup.n_weights}
        for host, count in ctx.recv_all(msg.HOST_WEIGHTS).items():
            weights[str(host)] = records.expect_count(
                count, str(host), "host_weights", 1, records.MAX_WEIGHTS
            )
        check_batch_sizes(setup.plan, weights, p.allow_small_batches, str(ctx.party), self.family.algorithm)
        plan = setup.plan
        if zeros is not None:  # the row count is known: make what the first batch needs, no more
            zeros.plan((1 + len(ctx.hosts)) * plan.sizes[0])
        model = self.model_class(role="arbiter")
        # The guest makes its own zeros while it waits for ours: when we are short, it gets fewer.
        helps = p.encrypt_param.method == "paillier"
        t_first: float | None = t_setup  # the guest starts making its own as the key arrives
        run = _Run(p, sk, plan, setup.n_rows, weights, zeros, setup.validate is not None, helps)
        for k in range(setup.n_models):
            history, n_iter, converged = self._fit_one(
                ctx.sub("class", k), run, k == setup.n_models - 1, t_first
            )
            t_first = None
            model.loss_history.append(history)
            model.n_iter.append(n_iter)
            model.converged.append(converged)
        return model

    def _fit_one(
        self, ctx: Context, run: _Run, last_model: bool, t_first: float | None
    ) -> tuple[list[float], int, bool]:
        p = run.p
        conv = Convergence(p.early_stop, p.tol)
        sizes = run.plan.sizes
        history: list[float] = []
        converged = False
        n_iter = 0
        for e in range(p.max_iter):
            ectx = ctx.sub("epoch", e)
            total = 0.0
            for b, n_b in enumerate(sizes):
                bctx = ectx.sub("batch", b)
                t_batch = time.perf_counter()  # about when the guest starts waiting for its zeros
                if run.zeros is not None:
                    last = last_model and e == p.max_iter - 1 and b == len(sizes) - 1
                    nxt = 0 if last else sizes[(b + 1) % len(sizes)]
                    self._send_zeros(bctx, run, n_b, nxt, t_batch if t_first is None else t_first)
                    t_first = None
                self._open_gradients(bctx, run)
                total += self._open_batch_loss(bctx, run)
            loss = total / run.n_rows
            history.append(loss)
            n_iter = e + 1
            wd = None
            if p.early_stop == "weight_diff":
                wd = sum(
                    records.expect_square_norm(v, str(party), "weight_diff")
                    for party, v in ectx.recv_all(msg.WEIGHT_DIFF).items()
                )
            converged = conv.check(loss, wd)
            log.info(
                "%s model epoch %d: loss %.6g%s",
                self.family.algorithm,
                e,
                loss,
                " (converged)" if converged else "",
            )
            ectx.send(msg.CONVERGED, converged)
            stop = False
            if run.validates and p.validates_at(e):
                stop = records.expect_flag(ectx.recv(msg.VALIDATION_STOP), str(ctx.guest), "validation_stop")
            if converged or stop:
                break
        return history, n_iter, converged

    def _send_zeros(self, bctx: Context, run: _Run, n_b: int, n_next: int, since: float) -> None:
        """This batch's encryptions of zero, hosts first; the next batch's are made meanwhile."""
        zeros = run.zeros
        assert zeros is not None
        parties = [*bctx.hosts, bctx.guest]
        zeros.plan(len(parties) * (n_b + n_next))
        for party in parties:  # hosts first: their forwards come before [d]
            count = n_b
            if party == bctx.guest and run.helps:
                count = zeros.share(n_b, since)
            bctx.send(msg.ZEROS, zeros.take(count), to=party)
        zeros.yield_cpu()

    def _open_gradients(self, bctx: Context, run: _Run) -> None:
        """Decrypt exactly one masked vector per party, of exactly that party's weight count."""
        pk = run.sk.public_key
        modulus = int(pk.n)
        for party, masked in bctx.recv_all(msg.MASKED_GRADIENT).items():
            name = str(party)
            expected = run.weights[name]
            # the length is checked first: never decrypt what the protocol does not expect
            if hasattr(masked, "public_key") and hasattr(masked, "__len__") and len(masked) != expected:
                raise MessageError(
                    f"masked_gradient from {name}: {len(masked)} values, but {name} has {expected} "
                    "weights; the arbiter decrypts exactly one gradient of that length per batch",
                    party=name,
                    field="masked_gradient",
                )
            masked = msg.expect_cipher(masked, pk, expected, "masked_gradient", name)
            opened = self.open_masked(run.sk, masked)
            bctx.send(msg.UNMASKED_GRADIENT, msg.residues_to_bytes(opened, modulus), to=party)

    def _open_batch_loss(self, bctx: Context, run: _Run) -> float:
        """Decrypt the guest's one loss value of the batch."""
        s = msg.expect_cipher(bctx.recv(msg.LOSS), run.sk.public_key, 1, "loss", str(bctx.guest))
        return self.open_loss(run.sk, s)

    def predict(self, ctx: Context, model: GLMModel) -> None:
        """The arbiter takes no part in prediction."""
        return None
