"""The arbiter's side of a hetero GLM: key owner, decrypts masked values, judges convergence.

The methods read in the order of the messages (:mod:`.messages`): :meth:`GLMArbiter.fit` (key,
setup), :meth:`~GLMArbiter._fit_one` per model, :meth:`~GLMArbiter._batch` per batch (zeros →
masked gradients → unmasked → loss), :meth:`~GLMArbiter._end_epoch` per epoch (weight diff →
converged → validation stop). The encryptions of zero it hands out are made by :mod:`.zeros`.
See :mod:`fedloom.ml.hetero.glm` for the protocol and what each party learns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sized
from dataclasses import dataclass, field

from fedloom.context import Context
from fedloom.core.errors import MessageError
from fedloom.crypto.cipher import generate_keypair
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.glm import records
from fedloom.ml.hetero.glm.batch import check_batch_sizes
from fedloom.ml.hetero.glm.ciphers import KeyOwner, Vector
from fedloom.ml.hetero.glm.loss import Convergence
from fedloom.ml.hetero.glm.model import GLMModel
from fedloom.ml.hetero.glm.params import GLMParams
from fedloom.ml.hetero.glm.role import GLMRole
from fedloom.ml.hetero.glm.sqn import SUM_MOD, SQNSchedule, check_sqn, from_bytes, to_bytes
from fedloom.ml.hetero.glm.zeros import ArbiterZeros

log = logging.getLogger(__name__)


@dataclass
class _Run:
    """What the arbiter's loop needs once setup is done."""

    p: GLMParams
    sk: KeyOwner
    setup: records.Setup
    weights: dict[str, int]  # each party's gradient length: the one vector it may have decrypted
    zeros: ArbiterZeros
    sqn: SQNSchedule | None = field(default=None)  # optimizer sqn: the current model's schedule


class GLMArbiter(GLMRole):
    """Arbiter role of a hetero GLM (subclassed per model: :class:`~fedloom.ml.hetero.lr.HeteroLRArbiter` …).

    Built as :class:`~fedloom.ml.hetero.glm.role.GLMRole` (``params``).
    """

    # -- fit: key, setup, then one model per class ---------------------------------------------------
    def fit(self, ctx: Context, *, init: GLMModel | Mapping[str, object] | None = None) -> GLMModel:
        """Generate the key, decrypt masked gradients and losses, decide convergence.

        ``init`` (a warm start): the arbiter's part of an earlier model; its loss history and
        epoch count continue (a fresh key: nothing encrypted is kept between runs).

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
        p = self._params()
        if p.optimizer == "sqn":
            check_sqn(p.penalty, self.family.quadratic, self.family.algorithm)
        start = None if init is None else self._model(init)
        if start is not None:
            start.check_warm_start("arbiter", None, [], False, str(ctx.party))
        ep = p.encrypt_param
        pk, sk = generate_keypair(ep.method, ep.key_length)
        ctx.send(msg.PUBLIC_KEY, pk)
        zeros = ArbiterZeros.for_arbiter(sk, p)  # they need no data: made while the others prepare
        try:
            run = self._setup(ctx, p, sk, zeros)
            model = self.model_class(role="arbiter")
            n_models = run.setup.n_models
            if start is not None and start.n_models != n_models:
                raise MessageError(
                    f"the guest trains {n_models} model(s); the arbiter's warm-start model has "
                    f"{start.n_models}",
                    party=str(ctx.guest),
                    field="n_models",
                )
            for k in range(n_models):
                history, n_iter, converged = self._fit_one(msg.CLASS.at(ctx, k), run, k, start)
                model.loss_history.append(history)
                model.n_iter.append(n_iter)
                model.converged.append(converged)
        finally:
            zeros.close()
        return model

    def _setup(self, ctx: Context, p: GLMParams, sk: KeyOwner, zeros: ArbiterZeros) -> _Run:
        """SETUP from the guest, HOST_WEIGHTS from each host; the batch plan checked."""
        guest = str(ctx.guest)
        setup = records.Setup.from_wire(ctx.recv(msg.SETUP), guest)
        # the plan is known: the zeros of the first batch, and how many batches there can be
        n_batches = setup.n_models * p.max_iter * setup.plan.n_batches
        zeros.expect(setup.plan, 1 + len(ctx.hosts), n_batches)
        # Exactly what each party may have decrypted per batch: one vector of its weight count.
        weights = {guest: setup.n_weights}
        for host, count in ctx.recv_all(msg.HOST_WEIGHTS).items():
            weights[str(host)] = records.expect_count(
                count, str(host), "host_weights", 1, records.MAX_WEIGHTS
            )
        check_batch_sizes(setup.plan, weights, p.allow_small_batches, str(ctx.party), self.family.algorithm)
        return _Run(p, sk, setup, weights, zeros)

    def _fit_one(
        self, ctx: Context, run: _Run, k: int = 0, init: GLMModel | None = None
    ) -> tuple[list[float], int, bool]:
        """One model: per batch :meth:`_batch`, per epoch the loss and :meth:`_end_epoch` (after
        ``init``'s epochs and losses on a warm start)."""
        p = run.p
        if p.optimizer == "sqn":
            run.sqn = SQNSchedule(p.sqn_param.update_interval_L, p.sqn_param.memory_M)
        conv = Convergence(p.early_stop, p.tol)
        history: list[float] = []
        converged = False
        n_iter = 0
        if init is not None:
            history = [float(v) for v in init.loss_history[k]] if k < len(init.loss_history) else []
            n_iter = init.epochs_of(k)
            converged = bool(init.converged[k]) if k < len(init.converged) else False
            if history:
                conv.check(history[-1], None)  # the previous loss of ``diff``
        for e in range(n_iter, p.max_iter):
            ectx = msg.EPOCH.within(ctx, e)
            total = 0.0
            for b, n_b in enumerate(run.setup.plan.sizes):
                total += self._batch(msg.BATCH.within(ectx, b), run, n_b)
            loss = total / sum(run.setup.plan.sizes)  # the epoch's rows (random batches: batch_size)
            history.append(loss)
            n_iter = e + 1
            converged, stop = self._end_epoch(ectx, run, conv, e, loss)
            if converged or stop:
                break
        return history, n_iter, converged

    # -- one batch, in the order of its messages ------------------------------------------------------
    def _batch(self, bctx: Context, run: _Run, n_b: int) -> float:
        """One mini-batch: zeros out, masked gradients opened, the batch loss decrypted."""
        # 1. n_b fresh encryptions of zero for each host, then the guest (their forwards come first)
        for party, zeros in run.zeros.hand_out(bctx.hosts, bctx.guest, n_b):
            bctx.send(msg.ZEROS, zeros, to=party)
        # 4-5. exactly one masked vector per party, of exactly its weight count, opened and returned
        pk = run.sk.public_key
        for party, masked in bctx.recv_all(msg.MASKED_GRADIENT).items():
            opened = self.open_masked(run.sk, self._expect_gradient(run, str(party), masked))
            bctx.send(msg.UNMASKED_GRADIENT, msg.residues_to_bytes(opened, int(pk.n)), to=party)
        # 6. the guest's one loss value of the batch
        loss = msg.expect_cipher(bctx.recv(msg.LOSS), pk, 1, "loss", str(bctx.guest))
        value = self.open_loss(run.sk, loss)
        if run.sqn is not None:
            self._sqn(bctx, run, run.sqn)
        return value

    def _sqn(self, bctx: Context, run: _Run, sched: SQNSchedule) -> None:
        """optimizer sqn (:mod:`.sqn`): the step's secure sums, then a curvature pair when due
        (each party's masked Hessian product opened like its gradient, one secure sum of two)."""
        rounds = sched.sums_per_step()
        for i in range(rounds):
            self._secure_sum(msg.SQN_ROUND.within(bctx, i), 1)
        if sched.step():
            pk = run.sk.public_key
            for party, masked in bctx.recv_all(msg.MASKED_HVP).items():
                opened = self.open_masked(run.sk, self._expect_gradient(run, str(party), masked))
                bctx.send(msg.UNMASKED_HVP, msg.residues_to_bytes(opened, int(pk.n)), to=party)
            self._secure_sum(msg.SQN_ROUND.within(bctx, rounds), 2)
            sched.pairs += 1

    def _secure_sum(self, rctx: Context, count: int) -> None:
        """SQN_SHARE from every party (``count`` values each), their sum mod 2¹²⁸ as SQN_SUM to all."""
        total = [0] * count
        for party, raw in rctx.recv_all(msg.SQN_SHARE).items():
            shares = from_bytes(raw, count, str(party), "sqn_share")
            total = [(a + b) % SUM_MOD for a, b in zip(total, shares, strict=True)]
        rctx.send(msg.SQN_SUM, to_bytes(total))

    def _expect_gradient(self, run: _Run, name: str, masked: object) -> Vector:
        """The masked gradient of ``name``, checked: its length first (never decrypt what is not expected)."""
        expected = run.weights[name]
        if isinstance(masked, Sized) and hasattr(masked, "public_key") and len(masked) != expected:
            raise MessageError(
                f"masked_gradient from {name}: {len(masked)} values, but {name} has {expected} "
                "weights; the arbiter decrypts exactly one gradient of that length per batch",
                party=name,
                field="masked_gradient",
            )
        return msg.expect_cipher(masked, run.sk.public_key, expected, "masked_gradient", name)

    def open_masked(self, sk: KeyOwner, masked: Vector) -> list[int]:
        """Decrypt a masked gradient to its residues mod n (uniform: they reveal nothing)."""
        return [int(v) for v in sk.decrypt_packed_raw(masked)]

    def open_loss(self, sk: KeyOwner, loss: Vector) -> float:
        """Decrypt the guest's batch loss ``n_b·loss_b`` (the arbiter learns it, by design)."""
        return float(sk.decrypt(loss)[0])

    # -- the end of an epoch --------------------------------------------------------------------------
    def _end_epoch(
        self, ectx: Context, run: _Run, conv: Convergence, e: int, loss: float
    ) -> tuple[bool, bool]:
        """WEIGHT_DIFF in, CONVERGED out, VALIDATION_STOP in on validation epochs: (converged, stop)."""
        p = run.p
        wd = None
        if p.early_stop == "weight_diff":
            wd = sum(
                records.expect_square_norm(v, str(party), "weight_diff")
                for party, v in ectx.recv_all(msg.WEIGHT_DIFF).items()
            )
        converged = conv.check(loss, wd)
        done = " (converged)" if converged else ""
        log.info("%s model epoch %d: loss %.6g%s", self.family.algorithm, e, loss, done)
        ectx.send(msg.CONVERGED, converged)
        stop = False
        if run.setup.validate is not None and p.validates_at(e):
            stop = records.expect_flag(ectx.recv(msg.VALIDATION_STOP), str(ectx.guest), "validation_stop")
        return converged, stop

    def predict(self, ctx: Context, model: GLMModel | Mapping[str, object]) -> None:
        """The arbiter takes no part in prediction."""
        return None
