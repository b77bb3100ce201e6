"""The guest's side of a hetero GLM: it holds the label, forms ``[d]`` and owns the predictions.

See :mod:`fedloom.ml.hetero.glm` for the protocol and what each party learns.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError
from fedloom.crypto.paillier import ObfuscatorPool
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
from fedloom.ml.hetero.glm.loss import EarlyStopping, Family, check_metrics, compute_metrics
from fedloom.ml.hetero.glm.model import GLMModel
from fedloom.ml.hetero.glm.optimizer import Optimizer, init_weights
from fedloom.ml.hetero.glm.params import GLMParams
from fedloom.ml.predictions import Predictions

log = logging.getLogger(__name__)

#: Most models (classes with one-vs-rest) a fit may train.
MAX_MODELS = records.MAX_MODELS


def as_params(params: Any, cls: type[GLMParams]) -> Any:
    """Accept a params object of ``cls`` or a FATE-style dict (ConfigError naming a bad field)."""
    if params is None:
        return cls()
    if isinstance(params, cls):
        return params
    if isinstance(params, dict):
        return cls.from_dict(params)
    raise ConfigError(
        f"{cls.algorithm} parameters must be {cls.__name__} or a dict. Got {type(params).__name__}.",
        field="params",
    )


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
    pk: Any
    m: int
    has_b: bool
    pool: ObfuscatorPool | None
    head: ObfuscatorPool | None


class GLMGuest:
    """Guest role of a hetero GLM (subclassed per model: :class:`~fedloom.ml.hetero.lr.HeteroLRGuest` …).

    Parameters
    ----------
    params
        The algorithm's params object, or a FATE-style dict (validated in :meth:`fit`).
    mask_seed
        Tests only: draw gradient masks from this seed instead of the OS CSPRNG.
    """

    params_class: ClassVar[type[GLMParams]] = GLMParams
    model_class: ClassVar[type[GLMModel]] = GLMModel
    family: ClassVar[Family] = Family()

    def __init__(self, params: Any = None, *, mask_seed: int | None = None) -> None:
        self.params = params
        self.mask_seed = mask_seed

    # -- data ------------------------------------------------------------------------------------
    def _exposure(self, p: GLMParams) -> str | None:
        return getattr(p, "exposure_colname", None)

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

    def _labels(self, label: np.ndarray | None, party: str) -> tuple[list[Any] | None, list[np.ndarray]]:
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

    def _check_regression_label(self, y: np.ndarray, party: str) -> np.ndarray:
        return y

    def _class_labels(self, label: np.ndarray, party: str) -> tuple[list[Any] | None, list[np.ndarray]]:
        raise NotImplementedError

    # -- fit -------------------------------------------------------------------------------------
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
        p = as_params(self.params, self.params_class)
        party = str(ctx.party)
        self._check_roles(ctx, party)
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
        task = "binary" if self.family.task == "binary" else "regression"
        metrics = check_metrics(p.metrics, task, self.family.algorithm)
        if data.frame.n_rows == 0:
            raise DataError("the training data has no rows", party=party)
        plan = BatchPlan.make(data.frame.n_rows, p.batch_size, p.shuffle, p.init_param.random_seed)
        run = self._setup(ctx, p, data, vdata, plan, ys)
        model = self.model_class(
            role="guest",
            feature_names=list(data.frame.feature_names),
            fit_intercept=run.has_b,
            classes=classes,
            exposure_colname=data.exposure,
            threshold=float(getattr(getattr(p, "predict_param", None), "threshold", 0.5)),
        )
        try:
            for k, y in enumerate(ys):
                seconds: list[float] = []
                w, n_iter, converged, history, best = self._fit_one(
                    ctx.sub("class", k), run, y, k, metrics, seconds
                )
                model.epoch_seconds.append(seconds)
                model.coef.append([float(v) for v in w[: run.m]])
                model.intercept.append(float(w[run.m]) if run.has_b else 0.0)
                model.n_iter.append(n_iter)
                model.converged.append(converged)
                model.validation.append(history)
                model.best_iteration.append(best)
        finally:
            for own in (run.pool, run.head):
                if own is not None:
                    own.close()
        return model

    def _check_roles(self, ctx: Context, party: str) -> None:
        fam = self.family
        if not ctx.hosts:
            raise ConfigError(f"{fam.algorithm} needs at least one host", party=party, field="role.host")
        if len(ctx.hosts) > 1 and not fam.multi_host:
            raise ConfigError(
                f"{fam.algorithm} supports one host; the job has {len(ctx.hosts)}",
                party=party,
                field="role.host",
            )

    def _setup(
        self,
        ctx: Context,
        p: GLMParams,
        data: _Data,
        vdata: _Data | None,
        plan: BatchPlan,
        ys: list[np.ndarray],
    ) -> _Run:
        """Key, SETUP / HOST_SETUP (alignment, batch sizes), [y] for Poisson; the run's state."""
        party = str(ctx.party)
        ep = p.encrypt_param
        pk = ctx.recv_public_key(msg.PUBLIC_KEY, scheme=ep.method, min_bits=ep.key_length)
        head = None
        if ep.obfuscators == "arbiter" and ep.method == "paillier":
            # our own zeros for the first batch, made while we wait: the arbiter may send only part
            head = ObfuscatorPool(pk, capacity=plan.sizes[0], batch=256)
        m = data.x.shape[1]
        has_b = p.init_param.fit_intercept
        digest = ids_digest(data.frame.ids)
        vdigest = ids_digest(vdata.frame.ids) if vdata is not None else None
        setup = records.Setup(digest, data.frame.n_rows, plan, len(ys), m + int(has_b), vdigest)
        ctx.send(msg.SETUP, setup.to_wire())
        weights = {party: setup.n_weights}
        try:
            for host, raw in ctx.recv_all(msg.HOST_SETUP).items():
                info = records.HostSetup.from_wire(raw, str(host))
                check_aligned(digest, info.ids, party, str(host), "training")
                if vdigest is not None:
                    check_aligned(vdigest, str(info.validate), party, str(host), "validation")
                weights[str(host)] = info.n_features
            check_batch_sizes(plan, weights, p.allow_small_batches, party, self.family.algorithm)
            if not self.family.quadratic:
                ctx.send(msg.ENC_LABEL, pk.encrypt(ys[0]))
        except BaseException:
            if head is not None:
                head.close()
            raise
        pool = None
        if ep.obfuscators == "local" and ep.method == "paillier":
            pool = ObfuscatorPool(pk, capacity=max(plan.sizes), batch=256)
        return _Run(p, data, vdata, plan, pk, m, has_b, pool, head)

    def _fit_one(
        self, ctx: Context, run: _Run, y: np.ndarray, k: int, metrics: list[str], seconds: list[float]
    ) -> tuple[np.ndarray, int, bool, list[dict[str, Any]], int | None]:
        p, fam = run.p, self.family
        w = init_weights(p, run.m + int(run.has_b), seed_offset=k)
        opt = Optimizer(p, len(w), run.has_b)
        masker = msg.Masker(run.pk, None if self.mask_seed is None else f"{self.mask_seed}/{ctx.party}/{k}")
        stopper = EarlyStopping(p.early_stopping_rounds, metrics, p.use_first_metric_only)
        history: list[dict[str, Any]] = []
        converged = False
        n_iter = 0
        for e in range(p.max_iter):
            ectx = ctx.sub("epoch", e)
            t0 = time.perf_counter()
            w_start = w.copy()
            for b in range(run.plan.n_batches):
                w = self._batch(ectx.sub("batch", b), run, y, b, w, opt, masker, e)
            n_iter = e + 1
            if p.early_stop == "weight_diff":
                ectx.send(msg.WEIGHT_DIFF, float(np.sum((w - w_start) ** 2)))
            converged = records.expect_flag(ectx.recv(msg.CONVERGED), str(ctx.arbiter), "converged")
            stop = False
            if run.vdata is not None and p.validates_at(e):
                values = self._validate(ectx, run.vdata, w, run.m, run.has_b, y_of=k, metrics=metrics)
                history.append({"epoch": e, "metrics": values})
                stop = stopper.update(e, values)
                ectx.send(msg.VALIDATION_STOP, stop)
            seconds.append(time.perf_counter() - t0)
            log.info("%s model %d epoch %d done%s", fam.algorithm, k, e, " (converged)" if converged else "")
            if converged or stop:
                break
        return w, n_iter, converged, history, stopper.best_epoch if history else None

    def _zeros(self, bctx: Context, run: _Run, n_b: int) -> Any:
        """The arbiter's encryptions of zero for this batch, topped up with our own (Paillier)."""
        # while we wait: our own zeros, in case the arbiter sends fewer (paillier only)
        own, run.head = run.head, None
        if own is None and run.p.encrypt_param.method == "paillier":
            own = ObfuscatorPool(run.pk, capacity=n_b, batch=256)
        try:
            return msg.complete_zeros(bctx.recv(msg.ZEROS), run.pk, n_b, own, str(bctx.arbiter))
        finally:
            if own is not None:
                own.close(wait=False)  # its last few values are dropped

    def _batch(
        self,
        bctx: Context,
        run: _Run,
        y: np.ndarray,
        b: int,
        w: np.ndarray,
        opt: Optimizer,
        masker: msg.Masker,
        e: int,
    ) -> np.ndarray:
        """One mini-batch: [d] to the hosts, the masked gradient and the loss to the arbiter."""
        fam, p, pk, m, has_b = self.family, run.p, run.pk, run.m, run.has_b
        rows = run.plan.rows(b)
        xb, yb, ob = run.data.x[rows], y[rows], run.data.offset[rows]
        n_b = len(rows)
        wx = xb @ w[:m] + (w[m] if has_b else 0.0) + ob
        part = fam.guest_part(wx, yb, ob)
        zeros = self._zeros(bctx, run, n_b) if p.encrypt_param.obfuscators == "arbiter" else None
        forwards = [
            msg.expect_cipher(v, pk, n_b, "host_forward", str(h))
            for h, v in bctx.recv_all(msg.HOST_FORWARD).items()
        ]
        total = forwards[0]
        for f in forwards[1:]:
            total = total + f
        d = fam.residual(total, part, yb)
        d = d + msg.with_scale(zeros, d.frac_bits) if zeros is not None else d.obfuscate(run.pool)
        bctx.send(msg.RESIDUAL, d)

        cols = np.hstack([xb, part[:, None]]) if fam.quadratic else xb
        dots = d.dot(cols, precision_bits=p.precision_bits) if cols.shape[1] else None
        d_sum = d.sum() if (has_b or not fam.quadratic) else None
        pieces = ([dots[:m]] if m and dots is not None else []) + ([d_sum] if has_b else [])
        masked, masks = masker.mask(type(pieces[0]).concat(pieces))
        bctx.send(msg.MASKED_GRADIENT, masked)

        host_loss = [
            msg.expect_cipher(v, pk, 2, "host_loss", str(h)) for h, v in bctx.recv_all(msg.HOST_LOSS).items()
        ]
        penalty = n_b * opt.penalty(w)
        s_enc = self._loss(host_loss, dots, d_sum, part, yb, wx, n_b, penalty, m)
        bctx.send(msg.LOSS, s_enc.rerandomize())  # the key owner decrypts it: a uniform rⁿ last

        raw = bctx.recv(msg.UNMASKED_GRADIENT)
        residues = msg.residues_from_bytes(raw, masker.n, len(masks), str(bctx.arbiter))
        grad = np.asarray(masker.unmask(residues, masks, masked.frac_bits)) / n_b
        return opt.step(w, grad, e)

    def _loss(
        self,
        host_loss: list[Any],
        dots: Any,
        d_sum: Any,
        part: np.ndarray,
        yb: np.ndarray,
        wx: np.ndarray,
        n_b: int,
        penalty: float,
        m: int,
    ) -> Any:
        """``[n_b·loss_b]`` from the hosts' encrypted terms and ours (see :mod:`.loss`)."""
        fam = self.family
        if fam.quadratic:
            assert dots is not None
            dg = dots[m : m + 1]
            if len(host_loss) == 1:
                sq = host_loss[0][0] + dg * 2 - float(np.dot(part, part))
            else:
                sq = dg
                for hl in host_loss:
                    sq = sq + hl[0]
            s_enc = sq * fam.loss_scale + (fam.loss_constant * n_b + penalty)
        else:
            assert d_sum is not None
            plain = float(yb.sum() - np.dot(yb, wx)) + penalty
            s_enc = d_sum + plain
            for hl in host_loss:
                s_enc = s_enc - hl[0]
        for hl in host_loss:
            s_enc = s_enc + hl[1]
        return s_enc

    def _validate(
        self, ctx: Context, vdata: _Data, w: np.ndarray, m: int, has_b: bool, y_of: int, metrics: list[str]
    ) -> dict[str, float]:
        wx = vdata.x @ w[:m] + (w[m] if has_b else 0.0) + vdata.offset
        for h, v in ctx.recv_all(msg.VALIDATE_FORWARD).items():
            wx = wx + records.expect_scores(v, str(h), "validate_forward", (vdata.frame.n_rows,))
        assert vdata.label is not None
        y, score, pred = self._validation_target(vdata.label, wx, y_of)
        return compute_metrics(
            metrics, "binary" if self.family.task == "binary" else "regression", y, score, pred
        )

    def _validation_target(
        self, label: np.ndarray, wx: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        score = self.family.link(wx)
        return label.astype(np.float64), score, score

    # -- predict ---------------------------------------------------------------------------------
    def predict(self, ctx: Context, model: GLMModel, data: Frame) -> Predictions:
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
        if isinstance(model, dict):
            model = self.model_class.from_dict(model)
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

    def _predictions(self, frame: Frame, wx: np.ndarray, model: GLMModel) -> Predictions:
        score = self.family.link(wx[:, 0])
        return Predictions(ids=frame.ids, score=score, result=score, label=frame.label, task="regression")
