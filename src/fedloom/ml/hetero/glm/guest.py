"""The guest's side of a hetero GLM: it holds the label, forms ``[d]`` and owns the predictions.

The methods read in the order of the messages (:mod:`.messages`): :meth:`GLMGuest.fit` (key,
setup), :meth:`~GLMGuest._fit_one` per model, :meth:`~GLMGuest._batch` per batch (zeros → host
forwards → residual → masked gradient → loss → unmasked gradient), :meth:`~GLMGuest._end_epoch`
per epoch (weight diff → converged → validation), then :meth:`GLMGuest.predict`; the checks of
the guest's own data come last. See :mod:`fedloom.ml.hetero.glm` for the protocol and what each
party learns.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fedloom.compute.crypto import parallel_dot
from fedloom.context import Context
from fedloom.core.errors import DataError
from fedloom.data.frame import Frame, append_column
from fedloom.ml.hetero.alignment import check_aligned, ids_digest
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.glm import records
from fedloom.ml.hetero.glm.batch import (
    BatchPlan,
    check_batch_sizes,
    check_columns,
    check_features,
    check_weighted_sizes,
    random_batch_seed,
)
from fedloom.ml.hetero.glm.ciphers import PublicKey, Vector, vector_like
from fedloom.ml.hetero.glm.loss import EarlyStopping, check_metrics, compute_metrics
from fedloom.ml.hetero.glm.model import ClassLabel, GLMModel
from fedloom.ml.hetero.glm.optimizer import Optimizer
from fedloom.ml.hetero.glm.params import GLMParams
from fedloom.ml.hetero.glm.role import GLMParty, Training
from fedloom.ml.hetero.glm.sqn import (
    check_sample_size,
    check_sqn,
    decode,
    draw_masks,
    encode,
    from_bytes,
    sample_rows,
    to_bytes,
)
from fedloom.ml.hetero.glm.zeros import PartyZeros
from fedloom.ml.predictions import Predictions

log = logging.getLogger(__name__)


@dataclass
class _Data:
    """The guest's prepared data: features in model order, offset, raw label."""

    frame: Frame
    x: np.ndarray
    offset: np.ndarray
    label: np.ndarray | None
    exposure: str | None


@dataclass
class _Run:
    """What the guest's training loop needs once setup is done."""

    p: GLMParams
    data: _Data
    vdata: _Data | None
    plan: BatchPlan
    pk: PublicKey
    zeros: PartyZeros
    metrics: list[str]
    m: int  # the guest's feature count
    has_b: bool  # it fits an intercept (the last weight)
    weights: np.ndarray | None = None  # SampleWeight's row weights s (None: unweighted)
    batch_seed: int | None = None  # batch_strategy random: epoch e of model k draws from (seed, k, e)
    party_weights: dict[str, int] = field(default_factory=dict)  # every party's weight count


@dataclass(kw_only=True)
class _Training(Training):
    """One model's state (one class with one-vs-rest), with its label and validation history."""

    k: int
    y: np.ndarray  # family-encoded label (±1 for LR)
    stopper: EarlyStopping
    history: list[dict[str, object]] = field(default_factory=list)


@dataclass
class _Batch:
    """The guest's plaintext side of one batch."""

    rows: np.ndarray
    x: np.ndarray
    y: np.ndarray
    wx: np.ndarray  # w_gᵀx_g (+ intercept + offset)
    part: np.ndarray  # the family's plaintext share of [d]
    s: np.ndarray | None = None  # the rows' sample weights: [d] is weighted, d_i·s_i

    @property
    def n(self) -> int:
        return len(self.rows)


#: Fractional bits of the sample weights multiplied into [d] (exact to 2⁻⁴¹ per weight).
WEIGHT_FRAC_BITS = 40


def _weighted(d: Vector, s: np.ndarray | None) -> Vector:
    """``[s_i·d_i]``: each row's residual times its sample weight (fixed point, ``WEIGHT_FRAC_BITS``)."""
    if s is None:
        return d
    k = np.rint(s * 2.0**WEIGHT_FRAC_BITS).astype(np.int64)  # weights < 2²² (checked by the guest)
    scaled = d * k
    return vector_like(scaled, scaled.ciphertexts, d.frac_bits + WEIGHT_FRAC_BITS)


class GLMGuest(GLMParty):
    """Guest role of a hetero GLM (subclassed per model: :class:`~fedloom.ml.hetero.lr.HeteroLRGuest` …).

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
        """Train with every host and the arbiter; returns the guest's part of the model.

        ``init`` (a warm start): the guest's part of an earlier model; training continues from its
        weights, optimiser state and epoch count up to ``max_iter`` epochs in all (every party
        must be given its part of the same model).

        Raises
        ------
        ConfigError
            A bad parameter (names the field), or a batch plan with a batch too small for a
            party's weight count (names ``batch_size``; see :func:`.batch.check_batch_sizes`).
        DataError
            No label, a label the model cannot use, NaN features, or rows not aligned with a host's.
        MessageError
            A malformed message from a peer (names the peer).
        """
        p = self._params()
        party = str(ctx.party)
        self._check_roles(ctx, party)
        if p.optimizer == "sqn":
            check_sqn(p.penalty, self.family.quadratic, self.family.algorithm)
        data, vdata, classes, ys = self._training_data(p, train, validate, party)
        start = None if init is None else self._model(init)
        if start is not None:
            names = list(data.frame.feature_names)
            start.check_warm_start("guest", len(ys), names, p.init_param.fit_intercept, party)
            if start.classes is not None and classes is not None and list(start.classes) != list(classes):
                raise DataError(
                    f"the warm-start model has classes {start.classes}; the training data has {classes}",
                    party=party,
                    field="input.model",
                )
        metrics = check_metrics(p.metrics, self._task(), self.family.algorithm)
        if data.frame.n_rows == 0:
            raise DataError("the training data has no rows", party=party)
        if train.weights is not None and train.weights.max() >= 2.0**22:
            raise DataError("sample weights must be below 2^22 (rescale them)", party=party, field="weight")
        plan = BatchPlan.make(data.frame.n_rows, p.batch_size, p.shuffle, p.init_param.random_seed)
        batch_seed = random_batch_seed(p, data.frame.n_rows)
        if batch_seed is not None:  # the SETUP plan only fixes the batch size; EPOCH_PLAN has the rows
            plan = BatchPlan.sample(data.frame.n_rows, p.batch_size, np.random.default_rng([batch_seed]))
        ep = p.encrypt_param
        pk: PublicKey = ctx.recv_public_key(msg.PUBLIC_KEY, scheme=ep.method, min_bits=ep.key_length)
        zeros = PartyZeros.for_party(pk, p, plan, tops_up=True)  # our own zeros start now
        try:
            run = _Run(
                p=p,
                data=data,
                vdata=vdata,
                plan=plan,
                pk=pk,
                zeros=zeros,
                metrics=metrics,
                m=data.x.shape[1],
                has_b=p.init_param.fit_intercept,
                weights=train.weights,
                batch_seed=batch_seed,
            )
            self._setup(ctx, run, ys)
            model = self.model_class(
                role="guest",
                feature_names=list(data.frame.feature_names),
                fit_intercept=run.has_b,
                classes=classes,
                exposure_colname=data.exposure,
                threshold=self._threshold(p),
            )
            for k, y in enumerate(ys):
                self._record(model, run, self._fit_one(msg.CLASS.at(ctx, k), run, k, y, start))
        finally:
            zeros.close()
        return model

    def _setup(self, ctx: Context, run: _Run, ys: list[np.ndarray]) -> None:
        """SETUP to hosts and arbiter, HOST_SETUP back (alignment, batch sizes), ENC_LABEL (Poisson)."""
        party, data, vdata, plan = str(ctx.party), run.data, run.vdata, run.plan
        digest = ids_digest(data.frame.ids)
        vdigest = ids_digest(vdata.frame.ids) if vdata is not None else None
        n_w = run.m + int(run.has_b)
        weighted, random_batches = run.weights is not None, run.batch_seed is not None
        n = data.frame.n_rows
        setup = records.Setup(digest, n, plan, len(ys), n_w, vdigest, weighted, random_batches)
        ctx.send(msg.SETUP, setup.to_wire())
        weights = {party: setup.n_weights}
        for host, raw in ctx.recv_all(msg.HOST_SETUP).items():
            info = records.HostSetup.from_wire(raw, str(host))
            check_aligned(digest, info.ids, party, str(host), "training")
            if vdigest is not None:
                check_aligned(vdigest, str(info.validate), party, str(host), "validation")
            weights[str(host)] = info.n_features
        check_batch_sizes(plan, weights, run.p.allow_small_batches, party, self.family.algorithm)
        run.party_weights = weights
        if run.p.optimizer == "sqn":
            size = min(run.p.sqn_param.sample_size, n)
            check_sample_size(size, weights, run.p.allow_small_batches, party)
        self._check_weighted(run, party)
        if not self.family.quadratic:
            label = ys[0] if run.weights is None else ys[0] * run.weights  # weighted: [s·y]
            ctx.send(msg.ENC_LABEL, run.pk.encrypt(label))

    def _fit_one(
        self, ctx: Context, run: _Run, k: int, y: np.ndarray, init: GLMModel | None = None
    ) -> _Training:
        """One model: epochs of batches, each epoch closed by :meth:`_end_epoch` (from ``init``'s
        weights, optimiser state and epoch count on a warm start)."""
        p = run.p
        w = self._start_weights(p, run.m + int(run.has_b), k, init, run.has_b)
        t = _Training(
            k=k,
            y=y,
            w=w,
            opt=Optimizer(p, len(w), run.has_b),
            masker=self._masker(ctx, run.pk, k),
            stopper=EarlyStopping(
                p.early_stopping_rounds, run.metrics, p.use_first_metric_only, self._task()
            ),
        )
        first = self._resume(t, p, k, init, lambda bctx, s: self._hessian_product(run, t, bctx, s))
        if init is not None:
            t.history = list(init.validation[k]) if k < len(init.validation) else []

        def plan(ectx: Context, e: int) -> BatchPlan:
            if run.batch_seed is not None:  # batch_strategy random: this epoch's batch, to the hosts
                rng = np.random.default_rng([run.batch_seed, k, e])
                run.plan = BatchPlan.sample(run.data.frame.n_rows, run.p.batch_size, rng)
                self._check_weighted(run, str(ctx.party))
                ectx.send(msg.EPOCH_PLAN, {"order": run.plan.order, "offsets": run.plan.offsets})
            return run.plan

        def done(e: int) -> None:
            log.info(
                "%s model %d epoch %d done%s",
                self.family.algorithm,
                k,
                e,
                " (converged)" if t.converged else "",
            )

        self._epochs(ctx, run, t, first, plan, done)
        return t

    def _check_weighted(self, run: _Run, party: str) -> None:
        """With sample weights, every batch needs enough rows of non-zero weight (:mod:`.batch`)."""
        if run.weights is not None:
            allowed, algorithm = run.p.allow_small_batches, self.family.algorithm
            check_weighted_sizes(run.plan, run.weights, run.party_weights, allowed, party, algorithm)

    # -- one batch, in the order of its messages ------------------------------------------------------
    def _batch(self, bctx: Context, run: _Run, t: _Training, b: int, e: int) -> None:
        """One mini-batch: [d] to the hosts, the masked gradient and the loss to the arbiter."""
        batch = self._plain_side(run, t, b)
        # 1. this batch's encryptions of zero (the arbiter's, topped up by our own: .zeros)
        zeros = run.zeros.take(batch.n, lambda: bctx.recv(msg.ZEROS), str(bctx.arbiter))
        # 2. the hosts' forwards Σ[u_h]; 3. [d] = Σ[u_h] + g, re-randomised, to every host
        forward = self._sum_forwards(bctx, run, batch.n)
        d = zeros.hide(_weighted(self.family.residual(forward, batch.part, batch.y), batch.s))
        bctx.send(msg.RESIDUAL, d)
        # 4. our gradient [X_gᵀd, Σd], masked and re-randomised, to the arbiter
        grad, dots, d_sum = self._encrypted_gradient(run, batch, d)
        masked, masks = t.masker.mask(grad)
        bctx.send(msg.MASKED_GRADIENT, masked)
        # 6. the batch loss from the hosts' terms and ours, sent before 5 so that it is assembled
        #    while the arbiter decrypts the gradients
        host_loss = [
            msg.expect_cipher(v, run.pk, 2, "host_loss", str(h))
            for h, v in bctx.recv_all(msg.HOST_LOSS).items()
        ]
        loss = self._loss(run, batch, host_loss, dots, d_sum, batch.n * t.opt.penalty(t.w))
        bctx.send(msg.LOSS, loss.rerandomize())  # the key owner decrypts it: a uniform rⁿ last
        # 5. the arbiter's answer, unmasked: our gradient, and one optimiser step
        self._apply_gradient(bctx, t, masked, masks, batch.n, e)

    # -- optimizer sqn: secure sums and the Hessian product of a curvature pair (:mod:`.sqn`) -------
    def _secure_sum(self, rctx: Context, values: np.ndarray) -> np.ndarray:
        """SQN_MASK to each host, SQN_SHARE (our values minus their masks) to the arbiter, SQN_SUM back."""
        share = encode(values)
        for host in rctx.hosts:
            masks = draw_masks(len(share))
            rctx.send(msg.SQN_MASK, to_bytes(masks), to=host)
            share = [a - b for a, b in zip(share, masks, strict=True)]
        rctx.send(msg.SQN_SHARE, to_bytes(share))
        return decode(from_bytes(rctx.recv(msg.SQN_SUM), len(share), str(rctx.arbiter), "sqn_sum"))

    def _hessian_product(self, run: _Run, t: Training, bctx: Context, s: np.ndarray) -> np.ndarray:
        """SQN_SAMPLE → HVP_FORWARD → HVP_RESIDUAL ``[z]`` → MASKED_HVP / UNMASKED_HVP: ``(X_Sᵀz)_g/|S|``."""
        assert t.sqn is not None
        p, m, sched = run.p, run.m, t.sqn.schedule
        sp = p.sqn_param
        rows = sample_rows(run.data.frame.n_rows, sp.sample_size, sp.random_seed, sched.k, sched.t)
        bctx.send(msg.SQN_SAMPLE, [int(r) for r in rows])
        xs = run.data.x[rows]
        own = np.asarray(xs @ s[:m]).reshape(-1) + (s[m] if run.has_b else 0.0)
        z = self.family.host_forward(own)
        total: Vector | None = None
        for h, v in bctx.recv_all(msg.HVP_FORWARD).items():
            f = msg.expect_cipher(v, run.pk, len(rows), "hvp_forward", str(h))
            total = f if total is None else total + f
        assert total is not None
        enc_z = (total + z).rerandomize()  # the hosts must not recognise their own ciphertexts
        bctx.send(msg.HVP_RESIDUAL, enc_z)
        pieces = [parallel_dot(enc_z, xs, p.precision_bits)] if m else []
        if run.has_b:
            pieces.append(enc_z.sum())
        return self._open_hvp(bctx, t, pieces[0].concat(pieces), len(rows))

    def _plain_side(self, run: _Run, t: _Training, b: int) -> _Batch:
        """Batch ``b``'s rows, our score ``w_gᵀx_g`` and the family's plaintext part of ``[d]``."""
        rows = run.plan.rows(b)
        x, y, offset = run.data.x[rows], t.y[rows], run.data.offset[rows]
        wx = x @ t.w[: run.m] + (t.w[run.m] if run.has_b else 0.0) + offset
        s = None if run.weights is None else run.weights[rows]
        return _Batch(rows, x, y, wx, self.family.guest_part(wx, y, offset), s)

    def _sum_forwards(self, bctx: Context, run: _Run, n_b: int) -> Vector:
        """``Σ_h [u_h]``: every host's HOST_FORWARD of this batch."""
        forwards = [
            msg.expect_cipher(v, run.pk, n_b, "host_forward", str(h))
            for h, v in bctx.recv_all(msg.HOST_FORWARD).items()
        ]
        total = forwards[0]
        for f in forwards[1:]:
            total = total + f
        return total

    def _encrypted_gradient(
        self, run: _Run, batch: _Batch, d: Vector
    ) -> tuple[Vector, Vector | None, Vector | None]:
        """``[X_gᵀd]`` and ``[Σd]`` (intercept) as one vector, and the pieces the loss reuses.

        Quadratic families also get ``[Σ d·g]`` as one more column of the product (the loss's
        cross term); Poisson gets ``[Σd]`` even without an intercept.
        """
        fam, m = self.family, run.m
        cols = append_column(batch.x, batch.part) if fam.quadratic else batch.x  # sparse x: non-zeros only
        dots = parallel_dot(d, cols, run.p.precision_bits) if cols.shape[1] else None
        d_sum = d.sum() if (run.has_b or not fam.quadratic) else None
        pieces = [dots[:m]] if m and dots is not None else []
        if run.has_b and d_sum is not None:
            pieces.append(d_sum)
        return pieces[0].concat(pieces), dots, d_sum

    def _loss(
        self,
        run: _Run,
        batch: _Batch,
        host_loss: list[Vector],
        dots: Vector | None,
        d_sum: Vector | None,
        penalty: float,
    ) -> Vector:
        """``[n_b·loss_b]`` from the hosts' encrypted terms and ours (see :mod:`.loss`)."""
        fam = self.family
        if fam.quadratic:
            assert dots is not None
            dg = dots[run.m : run.m + 1]
            if len(host_loss) == 1 and batch.s is None:  # weighted: Σ s·d² = Σ [s·d]·(u_h + g)
                sq = host_loss[0][0] + dg * 2 - float(np.dot(batch.part, batch.part))
            else:
                sq = dg
                for hl in host_loss:
                    sq = sq + hl[0]
            n_s = batch.n if batch.s is None else float(batch.s.sum())
            s_enc = sq * fam.loss_scale + (fam.loss_constant * n_s + penalty)
        else:
            assert d_sum is not None
            sy = batch.y if batch.s is None else batch.y * batch.s
            plain = float(sy.sum() - np.dot(sy, batch.wx)) + penalty
            s_enc = d_sum + plain
            for hl in host_loss:
                s_enc = s_enc - hl[0]
        for hl in host_loss:
            s_enc = s_enc + hl[1]
        return s_enc

    # -- the end of an epoch --------------------------------------------------------------------------
    def _end_epoch(self, ectx: Context, run: _Run, t: _Training, e: int, w_start: np.ndarray) -> bool:
        """WEIGHT_DIFF → CONVERGED → on validation epochs VALIDATE_FORWARD, VALIDATION_STOP; True: stop."""
        t.converged = self._converged(ectx, run.p, t, w_start)
        stop = False
        if run.vdata is not None and run.p.validates_at(e):
            values = self._validate(ectx, run, run.vdata, t)
            t.history.append({"epoch": e, "metrics": values})
            stop = t.stopper.update(e, values)
            ectx.send(msg.VALIDATION_STOP, stop)
        return t.converged or stop

    def _validate(self, ctx: Context, run: _Run, vdata: _Data, t: _Training) -> dict[str, float]:
        """The validation metrics of model ``t`` with the hosts' VALIDATE_FORWARD scores."""
        m = run.m
        wx = vdata.x @ t.w[:m] + (t.w[m] if run.has_b else 0.0) + vdata.offset
        for h, v in ctx.recv_all(msg.VALIDATE_FORWARD).items():
            wx = wx + records.expect_scores(v, str(h), "validate_forward", (vdata.frame.n_rows,))
        assert vdata.label is not None
        y, score, pred = self._validation_target(vdata.label, wx, t.k)
        return compute_metrics(run.metrics, self._task(), y, score, pred)

    def _record(self, model: GLMModel, run: _Run, t: _Training) -> None:
        """Add model ``t``'s weights and history to the guest's part of the model."""
        model.epoch_seconds.append(t.seconds)
        model.coef.append([float(v) for v in t.w[: run.m]])
        model.intercept.append(float(t.w[run.m]) if run.has_b else 0.0)
        model.n_iter.append(t.n_iter)
        model.converged.append(t.converged)
        model.validation.append(t.history)
        model.best_iteration.append(t.stopper.best_epoch if t.history else None)
        model.optimizer_state.append(t.opt.state())

    # -- predict --------------------------------------------------------------------------------------
    def predict(self, ctx: Context, model: GLMModel | Mapping[str, object], data: Frame) -> Predictions:
        """Predict ``data`` with the hosts' help; rows must be aligned with theirs.

        Raises
        ------
        DataError
            Columns differ from the model's (names the missing / extra ones), NaN features, or
            rows not aligned with a host's.
        MessageError
            A host's reply is malformed or of the wrong shape (names the host).
        """
        party = str(ctx.party)
        model = self._model(model)
        prepared = self._prepare(data, model.exposure_colname, party, "prediction", list(model.feature_names))
        if model.exposure_colname is not None and model.exposure_colname not in data.feature_names:
            raise DataError(
                f"the model uses the exposure column {model.exposure_colname!r}, which the data lacks",
                party=party,
                field=model.exposure_colname,
            )
        digest = ids_digest(prepared.frame.ids)
        ctx.send(msg.PREDICT_SETUP, records.PredictSetup(digest, prepared.frame.n_rows).to_wire())
        n_models = model.n_models
        wx = prepared.x @ np.asarray(model.coef, dtype=np.float64).reshape(n_models, -1).T
        wx = wx + np.asarray(model.intercept, dtype=np.float64)[None, :] + prepared.offset[:, None]
        for host, reply in ctx.recv_all(msg.PREDICT_FORWARD).items():
            forward = records.PredictForward.from_wire(reply, str(host), wx.shape)
            check_aligned(digest, forward.ids, party, str(host), "prediction")
            wx = wx + forward.wx
        return self._predictions(prepared.frame, wx, model)

    # -- the guest's own data, and what each family does with it ----------------------------------------
    def _training_data(
        self, p: GLMParams, train: Frame, validate: Frame | None, party: str
    ) -> tuple[_Data, _Data | None, list[ClassLabel] | None, list[np.ndarray]]:
        """Training and validation data checked, and one encoded label vector per model."""
        data = self._prepare(train, self._exposure(p), party, "training", None)
        classes, ys = self._labels(data.label, party)
        if data.x.shape[1] == 0 and not p.init_param.fit_intercept:
            raise DataError("the guest has no feature column and fits no intercept", party=party)
        vdata = None
        if validate is not None:
            vdata = self._prepare(
                validate, data.exposure, party, "validation", list(data.frame.feature_names)
            )
            if vdata.label is None:
                raise DataError("the validation data has no label", party=party, field="label")
        return data, vdata, classes, ys

    def _prepare(
        self, frame: Frame, exposure: str | None, party: str, what: str, names: list[str] | None
    ) -> _Data:
        if not isinstance(frame, Frame):
            raise DataError(f"the {what} data must be a Frame. Got {type(frame).__name__}.", party=party)
        found = exposure is not None and exposure in frame.feature_names
        offset = np.zeros(frame.n_rows)
        if exposure is not None and found:
            col = frame.select_features([exposure]).dense_features()[:, 0]
            if not np.all(np.isfinite(col)) or np.any(col <= 0):
                raise DataError(
                    f"the exposure column {exposure!r} must hold positive numbers",
                    party=party,
                    field=exposure,
                )
            offset = np.log(col)
            rest = [c for c in frame.feature_names if c != exposure]
            frame = frame.select_features(rest)
        elif exposure is not None and names is None:
            log.warning("exposure column %r is not in the guest's data: no exposure offset", exposure)
        if names is not None:
            frame = check_columns(names, frame, party, self.family.algorithm)
        check_features(frame, party, what)
        return _Data(frame, frame.features, offset, frame.label, exposure if found else None)

    def _labels(
        self, label: np.ndarray | None, party: str
    ) -> tuple[list[ClassLabel] | None, list[np.ndarray]]:
        """Class list and one label vector per model (family-encoded)."""
        if label is None:
            raise DataError(f"the guest's training data has no label ({self.family.algorithm})", party=party)
        if label.dtype.kind in "fc":
            bad = np.flatnonzero(~np.isfinite(label))
            if len(bad):
                raise DataError(
                    f"the label has NaN or infinite values (first at row {int(bad[0])})",
                    party=party,
                    field="label",
                )
        if self.family.task != "binary":
            if label.dtype.kind not in "biuf":
                raise DataError(
                    f"the label of {self.family.algorithm} must be numeric. Got dtype {label.dtype}.",
                    party=party,
                    field="label",
                )
            return None, [self._check_regression_label(label.astype(np.float64), party)]
        return self._class_labels(label, party)

    def _task(self) -> str:
        return "binary" if self.family.task == "binary" else "regression"

    # Hooks of the families (lr / poisson override them).
    def _exposure(self, p: GLMParams) -> str | None:
        """The exposure column (Poisson)."""
        return None

    def _threshold(self, p: GLMParams) -> float:
        """The binary decision threshold (LR)."""
        return 0.5

    def _check_regression_label(self, y: np.ndarray, party: str) -> np.ndarray:
        return y

    def _class_labels(
        self, label: np.ndarray, party: str
    ) -> tuple[list[ClassLabel] | None, list[np.ndarray]]:
        raise NotImplementedError

    def _validation_target(
        self, label: np.ndarray, wx: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        score = self.family.link(wx)
        return label.astype(np.float64), score, score

    def _predictions(self, frame: Frame, wx: np.ndarray, model: GLMModel) -> Predictions:
        score = self.family.link(wx[:, 0])
        return Predictions(ids=frame.ids, score=score, result=score, label=frame.label, task="regression")
