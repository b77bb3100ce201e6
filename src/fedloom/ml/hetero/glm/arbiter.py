"""The arbiter's side of a hetero GLM: key owner, decrypts masked values, judges convergence.

See :mod:`fedloom.ml.hetero.glm` for the protocol and what each party learns.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import MessageError
from fedloom.core.roles import PartyId
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


class _ZeroMaker:
    """Encryptions of zero for the next batch, made in a background thread while the parties work.

    The arbiter owns the key, so it uses the CRT obfuscator. Each batch needs one fresh zero per
    row for the guest and for every host; the values go to exactly one party each.
    """

    def __init__(self, sk: Any, parties: list[PartyId]) -> None:
        self.sk = sk
        self.parties = parties
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedloom-glm-zeros")
        self._next: Future[dict[PartyId, Any]] | None = None

    def _make(self, size: int) -> dict[PartyId, Any]:
        out: dict[PartyId, Any] = {}
        for party in self.parties:
            parts = []
            for start in range(0, size, ZEROS_CHUNK):
                if self._stop.is_set():
                    return {}
                count = min(ZEROS_CHUNK, size - start)
                parts.append(self.sk.encrypt_ints(np.zeros(count, dtype=np.int64)))
            out[party] = type(parts[0]).concat(parts)
        return out

    def prefetch(self, size: int) -> None:
        """Start making zeros for a batch of ``size`` rows."""
        self._next = self._pool.submit(self._make, size)

    def take(self, size: int) -> dict[PartyId, Any]:
        """The zeros prefetched (made now when none were)."""
        if self._next is None:
            self.prefetch(size)
        assert self._next is not None
        result = self._next.result()
        self._next = None
        if any(len(v) != size for v in result.values()):
            result = self._make(size)
        return result

    def close(self) -> None:
        """Stop any background work."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


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
        setup = ctx.recv(msg.SETUP)
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
        model = self.model_class(role="arbiter")
        parties = [ctx.guest, *ctx.hosts]
        zeros = _ZeroMaker(sk, parties) if ep.obfuscators == "arbiter" else None
        sizes = plan.sizes
        try:
            if zeros is not None:
                zeros.prefetch(sizes[0])
            for k in range(n_models):
                history, n_iter, converged = self._fit_one(
                    ctx.sub("class", k), p, sk, plan, n, zeros, validates, k == n_models - 1
                )
                model.loss_history.append(history)
                model.n_iter.append(n_iter)
                model.converged.append(converged)
        finally:
            if zeros is not None:
                zeros.close()
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
    ) -> tuple[list[float], int, bool]:
        conv = Convergence(p.early_stop, p.tol)
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
                if zeros is not None:
                    batch_zeros = zeros.take(n_b)
                    if not (last_model and e == p.max_iter - 1 and b == len(sizes) - 1):
                        zeros.prefetch(sizes[(b + 1) % len(sizes)])  # the next batch's, made meanwhile
                    for party, z in batch_zeros.items():
                        bctx.send(msg.ZEROS, z, to=party)
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
