"""A host's side of a hetero GLM: features only, never the label.

See :mod:`fedloom.ml.hetero.glm` for the protocol and what each party learns.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError, MessageError
from fedloom.crypto.paillier import ObfuscatorPool
from fedloom.data.frame import Frame
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.glm.batch import BatchPlan, check_aligned, check_columns, check_features, ids_digest
from fedloom.ml.hetero.glm.guest import MAX_MODELS, as_params
from fedloom.ml.hetero.glm.loss import Family
from fedloom.ml.hetero.glm.model import GLMModel
from fedloom.ml.hetero.glm.optimizer import Optimizer, init_weights
from fedloom.ml.hetero.glm.params import GLMParams

log = logging.getLogger(__name__)


class GLMHost:
    """Host role of a hetero GLM (subclassed per model: :class:`~fedloom.ml.hetero.lr.HeteroLRHost` …).

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

    def _check(self, frame: Frame, party: str, what: str) -> None:
        if not isinstance(frame, Frame):
            raise DataError(f"the {what} data must be a Frame. Got {type(frame).__name__}.", party=party)
        check_features(frame, party, what)

    def fit(self, ctx: Context, train: Frame, validate: Frame | None = None) -> GLMModel:
        """Train with the guest and the arbiter; returns this host's part of the model.

        Raises
        ------
        ConfigError
            A bad parameter (names the field).
        DataError
            NaN features, no feature column, or rows not aligned with the guest's.
        """
        p = as_params(self.params, self.params_class)
        fam = self.family
        party = str(ctx.party)
        if len(ctx.hosts) > 1 and not fam.multi_host:
            raise ConfigError(
                f"{fam.algorithm} supports one host; the job has {len(ctx.hosts)}",
                party=party,
                field="role.host",
            )
        self._check(train, party, "training")
        if train.n_features == 0:
            raise DataError("the host has no feature column", party=party)
        if validate is not None:
            self._check(validate, party, "validation")
            validate = check_columns(train.feature_names, validate, party, fam.algorithm)
        pk = ctx.recv(msg.PUBLIC_KEY)
        setup = ctx.recv(msg.SETUP)
        digest = ids_digest(train.ids)
        vdigest = ids_digest(validate.ids) if validate is not None else None
        ctx.send(msg.HOST_SETUP, {"ids": digest, "validate": vdigest, "n_features": train.n_features})
        if not isinstance(setup, dict):
            raise MessageError("malformed setup from the guest")
        check_aligned(digest, str(setup.get("ids")), party, str(ctx.guest), "training")
        if setup.get("validate") is not None:
            if validate is None:
                raise DataError("the guest validates during training but this host has no validation data")
            check_aligned(str(vdigest), str(setup["validate"]), party, str(ctx.guest), "validation")
        n = train.n_rows
        plan = BatchPlan.from_wire(setup.get("order"), setup.get("offsets"), n)
        n_models = setup.get("n_models")
        if not isinstance(n_models, int) or not 1 <= n_models <= MAX_MODELS:
            raise MessageError(f"the guest asks for {n_models!r} models")
        enc_label = None
        if not fam.quadratic:
            enc_label = msg.expect_cipher(ctx.recv(msg.ENC_LABEL), pk, n, "encrypted label")
        model = self.model_class(role="host", feature_names=list(train.feature_names))
        pool = None
        if p.encrypt_param.obfuscators == "local" and p.encrypt_param.method == "paillier":
            pool = ObfuscatorPool(pk, capacity=max(plan.sizes), batch=256)
        x = train.features
        try:
            for k in range(n_models):
                seconds: list[float] = []
                w, n_iter, converged = self._fit_one(
                    ctx.sub("class", k),
                    p,
                    x,
                    validate.features if validate is not None and setup.get("validate") else None,
                    plan,
                    pk,
                    pool,
                    enc_label,
                    k,
                    seconds,
                )
                model.epoch_seconds.append(seconds)
                model.coef.append([float(v) for v in w])
                model.intercept.append(0.0)
                model.n_iter.append(n_iter)
                model.converged.append(converged)
        finally:
            if pool is not None:
                pool.close()
        return model

    def _fit_one(
        self,
        ctx: Context,
        p: GLMParams,
        x: np.ndarray,
        xv: np.ndarray | None,
        plan: BatchPlan,
        pk: Any,
        pool: ObfuscatorPool | None,
        enc_label: Any,
        k: int,
        seconds: list[float],
    ) -> tuple[np.ndarray, int, bool]:
        fam = self.family
        m = x.shape[1]
        w = init_weights(p, m, seed_offset=k)
        opt = Optimizer(p, m, False)
        masker = msg.Masker(pk, None if self.mask_seed is None else f"{self.mask_seed}/{ctx.party}/{k}")
        from_arbiter = p.encrypt_param.obfuscators == "arbiter"
        single = len(ctx.hosts) == 1
        converged = False
        n_iter = 0
        for e in range(p.max_iter):
            ectx = ctx.sub("epoch", e)
            t0 = time.perf_counter()
            w_start = w.copy()
            for b in range(plan.n_batches):
                bctx = ectx.sub("batch", b)
                rows = plan.rows(b)
                xb = x[rows]
                n_b = len(rows)
                wx = xb @ w
                f = fam.host_forward(wx)
                if from_arbiter:
                    zeros = msg.expect_cipher(bctx.recv(msg.ZEROS), pk, n_b, "zeros")
                    fw = msg.with_scale(zeros, msg.FORWARD_FRAC_BITS) + f
                else:
                    fw = pk.encrypt(f, msg.FORWARD_FRAC_BITS, pool=pool)
                bctx.send(msg.HOST_FORWARD, fw)
                penalty = n_b * opt.penalty(w)
                early_loss = fam.quadratic and single
                if early_loss:  # known before [d]: the guest can finish its loss sooner
                    bctx.send(msg.HOST_LOSS, pk.encrypt(np.array([float(np.dot(f, f)), penalty])))
                d = msg.expect_cipher(bctx.recv(msg.RESIDUAL), pk, n_b, "residual")
                cols = np.hstack([xb, f[:, None]]) if fam.quadratic and not single else xb
                dots = d.dot(cols, precision_bits=p.precision_bits)
                masked, masks = masker.mask(dots[:m])
                bctx.send(msg.MASKED_GRADIENT, masked)
                if not early_loss:
                    if fam.quadratic:
                        term = dots[m : m + 1]
                    else:
                        term = enc_label[rows].dot(wx, precision_bits=p.precision_bits)
                    pen = pk.encrypt(np.array([penalty]))
                    bctx.send(msg.HOST_LOSS, type(term).concat([term, pen]).obfuscate())
                raw = bctx.recv(msg.UNMASKED_GRADIENT)
                residues = msg.residues_from_bytes(raw, masker.n, len(masks))
                grad = np.asarray(masker.unmask(residues, masks, masked.frac_bits)) / n_b
                w = opt.step(w, grad, e)
            n_iter = e + 1
            if p.early_stop == "weight_diff":
                ectx.send(msg.WEIGHT_DIFF, float(np.sum((w - w_start) ** 2)))
            converged = bool(ectx.recv(msg.CONVERGED))
            stop = False
            if xv is not None and p.validates_at(e):
                ectx.send(msg.VALIDATE_FORWARD, xv @ w)
                stop = bool(ectx.recv(msg.VALIDATION_STOP))
            seconds.append(time.perf_counter() - t0)
            if converged or stop:
                break
        return w, n_iter, converged

    def predict(self, ctx: Context, model: GLMModel, data: Frame) -> None:
        """Send this host's ``w_hᵀx_h`` for every row and model to the guest.

        Raises
        ------
        DataError
            Columns differ from the model's (names the missing / extra ones) or NaN features.
        """
        party = str(ctx.party)
        if isinstance(model, dict):
            model = self.model_class.from_dict(model)
        self._check(data, party, "prediction")
        frame = check_columns(model.feature_names, data, party, self.family.algorithm)
        setup = ctx.recv(msg.PREDICT_SETUP)
        digest = ids_digest(frame.ids)
        coef = np.asarray(model.coef, dtype=np.float64).reshape(model.n_models, -1)
        ctx.send(msg.PREDICT_FORWARD, {"ids": digest, "wx": frame.features @ coef.T})
        if not isinstance(setup, dict):
            raise MessageError("malformed prediction setup from the guest")
        check_aligned(digest, str(setup.get("ids")), party, str(ctx.guest), "prediction")
