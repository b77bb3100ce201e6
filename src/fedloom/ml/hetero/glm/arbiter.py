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
from typing import Any, ClassVar

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import MessageError
from fedloom.crypto.cipher import generate_keypair
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.glm.batch import BatchPlan
from fedloom.ml.hetero.glm.guest import MAX_MODELS, as_params
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
                raise RuntimeError("the zero maker was closed")
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

    def fit(self, ctx: Context) -> GLMModel:
        """Generate the key, decrypt masked gradients and losses, decide convergence.

        Returns
        -------
        GLMModel
            No weights: the loss history, epochs run and convergence of each model.
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
        setup = ctx.recv(msg.SETUP)
        t_setup = time.perf_counter()
        if not isinstance(setup, dict):
            raise MessageError("malformed setup from the guest")
        n = setup.get("n_rows")
        if not isinstance(n, int) or n < 1:
            raise MessageError(f"the guest announced {n!r} rows")
        plan = BatchPlan.from_wire(setup.get("order"), setup.get("offsets"), n)
        n_models = setup.get("n_models")
        if not isinstance(n_models, int) or not 1 <= n_models <= MAX_MODELS:
            raise MessageError(f"the guest asks for {n_models!r} models")
        validates = setup.get("validate") is not None
        if zeros is not None:  # the row count is known: make what the first batch needs, no more
            zeros.plan((1 + len(ctx.hosts)) * plan.sizes[0])
        model = self.model_class(role="arbiter")
        # The guest makes its own zeros while it waits for ours: when we are short, it gets fewer.
        helps = p.encrypt_param.method == "paillier"
        t_first: float | None = t_setup  # the guest starts making its own as the key arrives
        for k in range(n_models):
            history, n_iter, converged = self._fit_one(
                ctx.sub("class", k), p, sk, plan, n, zeros, validates, k == n_models - 1, helps, t_first
            )
            t_first = None
            model.loss_history.append(history)
            model.n_iter.append(n_iter)
            model.converged.append(converged)
        return model

    def _fit_one(
        self,
        ctx: Context,
        p: GLMParams,
        sk: Any,
        plan: BatchPlan,
        n: int,
        zeros: _ZeroMaker | None,
        validates: bool,
        last_model: bool,
        helps: bool,
        t_first: float | None,
    ) -> tuple[list[float], int, bool]:
        conv = Convergence(p.early_stop, p.tol)
        parties = [*ctx.hosts, ctx.guest]
        modulus = int(sk.public_key.n)
        sizes = plan.sizes
        history: list[float] = []
        converged = False
        n_iter = 0
        for e in range(p.max_iter):
            ectx = ctx.sub("epoch", e)
            total = 0.0
            for b, n_b in enumerate(sizes):
                bctx = ectx.sub("batch", b)
                t_batch = time.perf_counter()  # about when the guest starts waiting for its zeros
                if zeros is not None:
                    last = last_model and e == p.max_iter - 1 and b == len(sizes) - 1
                    # this batch's and the next one's, made while the parties compute
                    zeros.plan(len(parties) * (n_b + (0 if last else sizes[(b + 1) % len(sizes)])))
                    for party in parties:  # hosts first: their forwards come before [d]
                        count = n_b
                        if party == ctx.guest and helps:
                            count = zeros.share(n_b, t_batch if t_first is None else t_first)
                        bctx.send(msg.ZEROS, zeros.take(count), to=party)
                    zeros.yield_cpu()
                    t_first = None
                for party, masked in bctx.recv_all(msg.MASKED_GRADIENT).items():
                    if not hasattr(masked, "public_key") or masked.public_key != sk.public_key:
                        raise MessageError(f"masked gradient of {party} is not under the job's key")
                    if not 0 < len(masked) <= msg.MAX_GRADIENT_LEN:
                        raise MessageError(f"masked gradient of {party} has {len(masked)} values")
                    opened = self.open_masked(sk, masked)
                    bctx.send(msg.UNMASKED_GRADIENT, msg.residues_to_bytes(opened, modulus), to=party)
                s = bctx.recv(msg.LOSS)
                if not hasattr(s, "public_key") or s.public_key != sk.public_key or len(s) != 1:
                    raise MessageError("the guest's loss is not one ciphertext under the job's key")
                total += float(sk.decrypt(s)[0])
            loss = total / n
            history.append(loss)
            n_iter = e + 1
            wd = None
            if p.early_stop == "weight_diff":
                wd = float(sum(float(v) for v in ectx.recv_all(msg.WEIGHT_DIFF).values()))
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
            if validates and p.validates_at(e):
                stop = bool(ectx.recv(msg.VALIDATION_STOP))
            if converged or stop:
                break
        return history, n_iter, converged

    def predict(self, ctx: Context, model: GLMModel) -> None:
        """The arbiter takes no part in prediction."""
        return None
