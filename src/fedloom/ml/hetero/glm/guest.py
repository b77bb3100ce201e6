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
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import DataError
from fedloom.data.frame import Frame
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.glm import records
from fedloom.ml.hetero.glm.batch import (
    BatchPlan,
    check_aligned,
    check_batch_sizes,
    check_columns,
    check_features,
    ids_digest,
)
from fedloom.ml.hetero.glm.ciphers import PublicKey, Vector
from fedloom.ml.hetero.glm.loss import EarlyStopping, check_metrics, compute_metrics
from fedloom.ml.hetero.glm.model import ClassLabel, GLMModel
from fedloom.ml.hetero.glm.optimizer import Optimizer, init_weights
from fedloom.ml.hetero.glm.params import GLMParams
from fedloom.ml.hetero.glm.role import GLMParty, Training
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

    @property
    def n(self) -> int:
        return len(self.rows)


class GLMGuest(GLMParty):
    """Guest role of a hetero GLM (subclassed per model: :class:`~fedloom.ml.hetero.lr.HeteroLRGuest` …).

    Built as :class:`~fedloom.ml.hetero.glm.role.GLMParty` (``params``, ``mask_seed``).
    """

    # -- fit: data, key, setup, then one model per class ---------------------------------------------
    def fit(self, ctx: Context, train: Frame, validate: Frame | None = None) -> GLMModel:
        """Train with every host and the arbiter; returns the guest's part of the model.

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
        data, vdata, classes, ys = self._training_data(p, train, validate, party)
        metrics = check_metrics(p.metrics, self._task(), self.family.algorithm)
        if data.frame.n_rows == 0:
            raise DataError("the training data has no rows", party=party)
        plan = BatchPlan.make(data.frame.n_rows, p.batch_size, p.shuffle, p.init_param.random_seed)
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
                self._record(model, run, self._fit_one(msg.CLASS.at(ctx, k), run, k, y))
        finally:
            zeros.close()
        return model

    def _setup(self, ctx: Context, run: _Run, ys: list[np.ndarray]) -> None:
        """SETUP to hosts and arbiter, HOST_SETUP back (alignment, batch sizes), ENC_LABEL (Poisson)."""
        party, data, vdata, plan = str(ctx.party), run.data, run.vdata, run.plan
        digest = ids_digest(data.frame.ids)
        vdigest = ids_digest(vdata.frame.ids) if vdata is not None else None
        setup = records.Setup(digest, data.frame.n_rows, plan, len(ys), run.m + int(run.has_b), vdigest)
        ctx.send(msg.SETUP, setup.to_wire())
        weights = {party: setup.n_weights}
        for host, raw in ctx.recv_all(msg.HOST_SETUP).items():
            info = records.HostSetup.from_wire(raw, str(host))
            check_aligned(digest, info.ids, party, str(host), "training")
            if vdigest is not None:
                check_aligned(vdigest, str(info.validate), party, str(host), "validation")
            weights[str(host)] = info.n_features
        check_batch_sizes(plan, weights, run.p.allow_small_batches, party, self.family.algorithm)
        if not self.family.quadratic:
            ctx.send(msg.ENC_LABEL, run.pk.encrypt(ys[0]))

    def _fit_one(self, ctx: Context, run: _Run, k: int, y: np.ndarray) -> _Training:
        """One model: epochs of batches, each epoch closed by :meth:`_end_epoch`."""
        p = run.p
        w = init_weights(p, run.m + int(run.has_b), seed_offset=k)
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
        for e in range(p.max_iter):
            ectx = msg.EPOCH.within(ctx, e)
            t0 = time.perf_counter()
            w_start = t.w.copy()
            for b in range(run.plan.n_batches):
                self._batch(msg.BATCH.within(ectx, b), run, t, b, e)
            t.n_iter = e + 1
            stop = self._end_epoch(ectx, run, t, e, w_start)
            t.seconds.append(time.perf_counter() - t0)
            done = " (converged)" if t.converged else ""
            log.info("%s model %d epoch %d done%s", self.family.algorithm, k, e, done)
            if stop:
                break
        return t

    # -- one batch, in the order of its messages ------------------------------------------------------
    def _batch(self, bctx: Context, run: _Run, t: _Training, b: int, e: int) -> None:
        """One mini-batch: [d] to the hosts, the masked gradient and the loss to the arbiter."""
        batch = self._plain_side(run, t, b)
        # 1. this batch's encryptions of zero (the arbiter's, topped up by our own: .zeros)
        zeros = run.zeros.take(batch.n, lambda: bctx.recv(msg.ZEROS), str(bctx.arbiter))
        # 2. the hosts' forwards Σ[u_h]; 3. [d] = Σ[u_h] + g, re-randomised, to every host
        forward = self._sum_forwards(bctx, run, batch.n)
        d = zeros.hide(self.family.residual(forward, batch.part, batch.y))
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

    def _plain_side(self, run: _Run, t: _Training, b: int) -> _Batch:
        """Batch ``b``'s rows, our score ``w_gᵀx_g`` and the family's plaintext part of ``[d]``."""
        rows = run.plan.rows(b)
        x, y, offset = run.data.x[rows], t.y[rows], run.data.offset[rows]
        wx = x @ t.w[: run.m] + (t.w[run.m] if run.has_b else 0.0) + offset
        return _Batch(rows, x, y, wx, self.family.guest_part(wx, y, offset))

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
        cols = np.hstack([batch.x, batch.part[:, None]]) if fam.quadratic else batch.x
        dots = d.dot(cols, precision_bits=run.p.precision_bits) if cols.shape[1] else None
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
            if len(host_loss) == 1:
                sq = host_loss[0][0] + dg * 2 - float(np.dot(batch.part, batch.part))
            else:
                sq = dg
                for hl in host_loss:
                    sq = sq + hl[0]
            s_enc = sq * fam.loss_scale + (fam.loss_constant * batch.n + penalty)
        else:
            assert d_sum is not None
            plain = float(batch.y.sum() - np.dot(batch.y, batch.wx)) + penalty
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
            col = frame.features[:, frame.feature_names.index(exposure)]
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
