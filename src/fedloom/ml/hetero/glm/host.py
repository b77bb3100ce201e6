"""A host's side of a hetero GLM: features only, never the label.

The methods read in the order of the messages (:mod:`.messages`): :meth:`GLMHost.fit` (key,
setup), :meth:`~GLMHost._fit_one` per model, :meth:`~GLMHost._batch` per batch (zeros →
forward → residual → masked gradient → loss terms → unmasked gradient),
:meth:`~GLMHost._end_epoch` per epoch (weight diff → converged → validation), then
:meth:`GLMHost.predict`. See :mod:`fedloom.ml.hetero.glm` for the protocol and what each party
learns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from fedloom.compute.crypto import parallel_dot
from fedloom.context import Context
from fedloom.core.errors import DataError, MessageError
from fedloom.data.frame import Frame, append_column
from fedloom.ml.hetero.alignment import check_aligned, check_rows, ids_digest
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.glm import records
from fedloom.ml.hetero.glm.batch import (
    BatchPlan,
    check_batch_sizes,
    check_columns,
    check_features,
)
from fedloom.ml.hetero.glm.ciphers import PublicKey, Vector
from fedloom.ml.hetero.glm.model import GLMModel
from fedloom.ml.hetero.glm.optimizer import Optimizer
from fedloom.ml.hetero.glm.params import GLMParams
from fedloom.ml.hetero.glm.role import GLMParty, Training
from fedloom.ml.hetero.glm.sqn import (
    HVP_FRAC_BITS,
    check_sample_size,
    check_sqn,
    decode,
    encode,
    expect_rows,
    from_bytes,
    to_bytes,
)
from fedloom.ml.hetero.glm.zeros import PartyZeros

log = logging.getLogger(__name__)


@dataclass
class _Run:
    """What the host's training loop needs once setup is done."""

    p: GLMParams
    setup: records.Setup
    x: np.ndarray
    xv: np.ndarray | None  # validation features, when the guest validates
    pk: PublicKey
    zeros: PartyZeros
    enc_label: Vector | None  # [y] (Poisson)


class GLMHost(GLMParty):
    """Host role of a hetero GLM (subclassed per model: :class:`~fedloom.ml.hetero.lr.HeteroLRHost` …).

    Built as :class:`~fedloom.ml.hetero.glm.role.GLMParty` (``params``, ``mask_seed``).
    """

    # -- fit: data, key, setup, then one model per class ---------------------------------------------
    def fit(
        self,
        ctx: Context,
        train: Frame,
        validate: Frame | None = None,
        *,
        init: GLMModel | Mapping[str, object] | None = None,
    ) -> GLMModel:
        """Train with the guest and the arbiter; returns this host's part of the model.

        ``init`` (a warm start): this host's part of an earlier model, continued from its weights,
        optimiser state and epoch count (see :meth:`GLMGuest.fit <.guest.GLMGuest.fit>`).

        Raises
        ------
        ConfigError
            A bad parameter (names the field), or a batch plan with a batch of at most
            (features + 1) rows (names ``batch_size``; see :func:`.batch.check_batch_sizes`).
        DataError
            NaN features, no feature column, or rows not aligned with the guest's.
        MessageError
            A malformed message from a peer (names the peer).
        """
        p = self._params()
        party = str(ctx.party)
        validate = self._check_data(ctx, train, validate, party)
        start = None if init is None else self._model(init)
        if start is not None:
            start.check_warm_start("host", None, list(train.feature_names), False, party)
        ep = p.encrypt_param
        pk: PublicKey = ctx.recv_public_key(msg.PUBLIC_KEY, scheme=ep.method, min_bits=ep.key_length)
        ctx.send(msg.HOST_WEIGHTS, train.n_features)  # what the arbiter may decrypt for us
        setup, enc_label = self._setup(ctx, p, pk, train, validate)
        zeros = PartyZeros.for_party(pk, p, setup.plan, tops_up=False)
        try:
            xv = validate.features if validate is not None and setup.validate is not None else None
            run = _Run(p, setup, train.features, xv, pk, zeros, enc_label)
            model = self.model_class(role="host", feature_names=list(train.feature_names))
            if start is not None and start.n_models != setup.n_models:
                raise DataError(
                    f"the warm-start model has {start.n_models} model(s); the guest trains {setup.n_models}",
                    party=party,
                    field="input.model",
                )
            for k in range(setup.n_models):
                self._record(model, self._fit_one(msg.CLASS.at(ctx, k), run, k, start))
        finally:
            zeros.close()
        return model

    def _setup(
        self, ctx: Context, p: GLMParams, pk: PublicKey, train: Frame, validate: Frame | None
    ) -> tuple[records.Setup, Vector | None]:
        """SETUP from the guest, HOST_SETUP back (alignment, batch sizes), ENC_LABEL (Poisson)."""
        party, guest = str(ctx.party), str(ctx.guest)
        raw = ctx.recv(msg.SETUP)
        digest = ids_digest(train.ids)
        vdigest = ids_digest(validate.ids) if validate is not None else None
        ctx.send(msg.HOST_SETUP, records.HostSetup(digest, vdigest, train.n_features).to_wire())
        setup = records.Setup.from_wire(raw, guest)
        check_aligned(digest, setup.ids, party, guest, "training")
        check_rows(setup.n_rows, train.n_rows, guest)
        if setup.validate is not None:
            if validate is None:
                raise DataError(
                    "the guest validates during training but this host has no validation data", party=party
                )
            check_aligned(str(vdigest), setup.validate, party, guest, "validation")
        check_batch_sizes(
            setup.plan, {party: train.n_features}, p.allow_small_batches, party, self.family.algorithm
        )
        enc_label = None
        if not self.family.quadratic:
            enc_label = msg.expect_cipher(ctx.recv(msg.ENC_LABEL), pk, train.n_rows, "enc_label", guest)
        return setup, enc_label

    def _fit_one(self, ctx: Context, run: _Run, k: int, init: GLMModel | None = None) -> Training:
        """One model: epochs of batches, each epoch closed by :meth:`_end_epoch` (from ``init``'s
        weights, optimiser state and epoch count on a warm start)."""
        p = run.p
        w = self._start_weights(p, run.x.shape[1], k, init, False)
        t = Training(w=w, opt=Optimizer(p, len(w), False), masker=self._masker(ctx, run.pk, k))
        if p.optimizer == "sqn":
            check_sqn(p.penalty, self.family.quadratic, self.family.algorithm)
        first = self._resume(t, p, k, init, lambda bctx, s: self._hessian_product(run, t, bctx, s))

        def plan(ectx: Context, e: int) -> BatchPlan:
            if run.setup.random_batches:  # batch_strategy random: this epoch's batch from the guest
                run.setup = replace(run.setup, plan=self._epoch_plan(ectx, run))
            return run.setup.plan

        self._epochs(ctx, run, t, first, plan)
        return t

    def _epoch_plan(self, ectx: Context, run: _Run) -> BatchPlan:
        """EPOCH_PLAN: distinct rows, as many per batch as SETUP said, each batch large enough."""
        guest, party = str(ectx.guest), str(ectx.party)
        raw = ectx.recv(msg.EPOCH_PLAN)
        if not isinstance(raw, dict) or set(raw) != {"order", "offsets"}:
            raise MessageError(
                f"epoch plan from {guest}: expected {{order, offsets}}", party=guest, field="epoch_plan"
            )
        plan = BatchPlan.from_wire(raw["order"], raw["offsets"], run.setup.n_rows, guest, sample=True)
        if plan.sizes != run.setup.plan.sizes:
            raise MessageError(
                f"epoch plan from {guest}: batch sizes {plan.sizes} where SETUP said {run.setup.plan.sizes}",
                party=guest,
                field="epoch_plan",
            )
        algorithm = self.family.algorithm
        check_batch_sizes(plan, {party: run.x.shape[1]}, run.p.allow_small_batches, party, algorithm)
        return plan

    # -- one batch, in the order of its messages ------------------------------------------------------
    def _batch(self, bctx: Context, run: _Run, t: Training, b: int, e: int) -> None:
        """One mini-batch: forward to the guest, masked gradient to the arbiter, loss terms."""
        fam, p, pk = self.family, run.p, run.pk
        single = len(bctx.hosts) == 1 and not run.setup.weighted  # weighted: [Σ s·d·u_h] below
        rows = run.setup.plan.rows(b)
        xb = run.x[rows]
        n_b, m = len(rows), run.x.shape[1]
        wx = xb @ t.w
        f = fam.host_forward(wx)
        # 1. this batch's encryptions of zero (the arbiter's, or our own pool: .zeros)
        zeros = run.zeros.take(n_b, lambda: bctx.recv(msg.ZEROS), str(bctx.arbiter))
        # 2. our forward [u_h] to the guest
        bctx.send(msg.HOST_FORWARD, zeros.encrypt(f, msg.FORWARD_FRAC_BITS))
        penalty = n_b * t.opt.penalty(t.w)
        early_loss = fam.quadratic and single
        if early_loss:  # 6. known before [d] (one host, LR / LinR): the guest can finish its loss sooner
            bctx.send(msg.HOST_LOSS, pk.encrypt(np.array([float(np.dot(f, f)), penalty])))
        # 3. [d] from the guest; 4. our gradient [X_hᵀd], masked and re-randomised, to the arbiter
        d = msg.expect_cipher(bctx.recv(msg.RESIDUAL), pk, n_b, "residual", str(bctx.guest))
        cols = append_column(xb, f) if fam.quadratic and not single else xb  # sparse xb: non-zeros only
        dots = parallel_dot(d, cols, p.precision_bits)
        masked, masks = self._masked_gradient(t.masker, d, dots[:m])
        bctx.send(msg.MASKED_GRADIENT, masked)
        if not early_loss:  # 6. our loss terms, which need [d] (several hosts) or [y] (Poisson)
            bctx.send(msg.HOST_LOSS, self._loss_terms(run, rows, wx, dots, m, penalty))
        # 5. the arbiter's answer, unmasked: our gradient, and one optimiser step
        self._apply_gradient(bctx, t, masked, masks, n_b, e)

    # -- optimizer sqn: secure sums and the Hessian product of a curvature pair (:mod:`.sqn`) -------
    def _secure_sum(self, rctx: Context, values: np.ndarray) -> np.ndarray:
        """SQN_MASK from the guest, SQN_SHARE (our values plus the masks) to the arbiter, SQN_SUM back."""
        share = encode(values)
        masks = from_bytes(rctx.recv(msg.SQN_MASK), len(share), str(rctx.guest), "sqn_mask")
        rctx.send(msg.SQN_SHARE, to_bytes([a + b for a, b in zip(share, masks, strict=True)]))
        return decode(from_bytes(rctx.recv(msg.SQN_SUM), len(share), str(rctx.arbiter), "sqn_sum"))

    def _hessian_product(self, run: _Run, t: Training, bctx: Context, s: np.ndarray) -> np.ndarray:
        """SQN_SAMPLE (checked) → HVP_FORWARD → HVP_RESIDUAL ``[z]`` → MASKED_HVP / UNMASKED_HVP."""
        p, guest, party = run.p, str(bctx.guest), str(bctx.party)
        n = run.setup.n_rows
        rows = expect_rows(bctx.recv(msg.SQN_SAMPLE), n, min(p.sqn_param.sample_size, n), guest)
        check_sample_size(len(rows), {party: run.x.shape[1]}, p.allow_small_batches, party)
        xs = run.x[rows]
        forward = self.family.host_forward(np.asarray(xs @ s).reshape(-1))
        bctx.send(msg.HVP_FORWARD, run.pk.encrypt(forward, HVP_FRAC_BITS))
        z = msg.expect_cipher(bctx.recv(msg.HVP_RESIDUAL), run.pk, len(rows), "hvp_residual", guest)
        return self._open_hvp(bctx, t, parallel_dot(z, xs, p.precision_bits), len(rows))

    def _masked_gradient(self, masker: msg.Masker, d: Vector, grad: Vector) -> tuple[Vector, list[int]]:
        """``[X_hᵀd + m]``, re-randomised (:meth:`.messages.Masker.mask`), and the masks.

        ``d`` is unused here; it is passed so that tests can play a host that deviates.
        """
        return masker.mask(grad)

    def _loss_terms(
        self, run: _Run, rows: np.ndarray, wx: np.ndarray, dots: Vector, m: int, penalty: float
    ) -> Vector:
        """``[Σ d·u_h, n_b·penalty]`` (several hosts) or ``[Σ y·w_hᵀx_h, n_b·penalty]`` (Poisson)."""
        if self.family.quadratic:
            term = dots[m : m + 1]
        else:
            assert run.enc_label is not None
            term = parallel_dot(run.enc_label[rows], wx, run.p.precision_bits)
        pen = run.pk.encrypt(np.array([penalty]))
        return term.concat([term, pen]).obfuscate()

    # -- the end of an epoch --------------------------------------------------------------------------
    def _end_epoch(self, ectx: Context, run: _Run, t: Training, e: int, w_start: np.ndarray) -> bool:
        """WEIGHT_DIFF → CONVERGED → on validation epochs VALIDATE_FORWARD, VALIDATION_STOP; True: stop."""
        t.converged = self._converged(ectx, run.p, t, w_start)
        stop = False
        if run.xv is not None and run.p.validates_at(e):
            ectx.send(msg.VALIDATE_FORWARD, run.xv @ t.w)
            stop = records.expect_flag(ectx.recv(msg.VALIDATION_STOP), str(ectx.guest), "validation_stop")
        return t.converged or stop

    def _record(self, model: GLMModel, t: Training) -> None:
        """Add model ``t``'s weights to this host's part of the model (hosts have no intercept)."""
        model.epoch_seconds.append(t.seconds)
        model.coef.append([float(v) for v in t.w])
        model.intercept.append(0.0)
        model.n_iter.append(t.n_iter)
        model.converged.append(t.converged)
        model.optimizer_state.append(t.opt.state())

    # -- predict --------------------------------------------------------------------------------------
    def predict(self, ctx: Context, model: GLMModel | Mapping[str, object], data: Frame) -> None:
        """Send this host's ``w_hᵀx_h`` for every row and model to the guest.

        Raises
        ------
        DataError
            Columns differ from the model's (names the missing / extra ones), NaN features, or
            rows not aligned with the guest's.
        MessageError
            A malformed prediction setup from the guest.
        """
        party = str(ctx.party)
        model = self._model(model)
        self._check(data, party, "prediction")
        frame = check_columns(model.feature_names, data, party, self.family.algorithm)
        raw = ctx.recv(msg.PREDICT_SETUP)
        digest = ids_digest(frame.ids)
        coef = np.asarray(model.coef, dtype=np.float64).reshape(model.n_models, -1)
        ctx.send(msg.PREDICT_FORWARD, records.PredictForward(digest, frame.features @ coef.T).to_wire())
        setup = records.PredictSetup.from_wire(raw, str(ctx.guest))
        check_aligned(digest, setup.ids, party, str(ctx.guest), "prediction")

    # -- the host's own data ----------------------------------------------------------------------------
    def _check_data(self, ctx: Context, train: Frame, validate: Frame | None, party: str) -> Frame | None:
        """Roles, training and validation data checked; the validation columns in model order."""
        fam = self.family
        self._check_roles(ctx, party)
        self._check(train, party, "training")
        if train.n_features == 0:
            raise DataError("the host has no feature column", party=party)
        if validate is not None:
            self._check(validate, party, "validation")
            validate = check_columns(train.feature_names, validate, party, fam.algorithm)
        return validate

    def _check(self, frame: Frame, party: str, what: str) -> None:
        if not isinstance(frame, Frame):
            raise DataError(f"the {what} data must be a Frame. Got {type(frame).__name__}.", party=party)
        check_features(frame, party, what)
