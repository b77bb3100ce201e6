"""A host's side of a hetero GLM: features only, never the label.

See :mod:`fedloom.ml.hetero.glm` for the protocol and what each party learns.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError, MessageError
from fedloom.crypto.paillier import ObfuscatorPool
from fedloom.data.frame import Frame
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.glm import records
from fedloom.ml.hetero.glm.batch import (
    check_aligned,
    check_batch_sizes,
    check_columns,
    check_features,
    ids_digest,
)
from fedloom.ml.hetero.glm.guest import as_params
from fedloom.ml.hetero.glm.loss import Family
from fedloom.ml.hetero.glm.model import GLMModel
from fedloom.ml.hetero.glm.optimizer import Optimizer, init_weights
from fedloom.ml.hetero.glm.params import GLMParams

log = logging.getLogger(__name__)


@dataclass
class _Run:
    """What the host's training loop needs once setup is done."""

    p: GLMParams
    setup: records.Setup
    x: np.ndarray
    xv: np.ndarray | None
    pk: Any
    pool: ObfuscatorPool | None
    enc_label: Any


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
            A bad parameter (names the field), or a batch plan with a batch of at most
            (features + 1) rows (names ``batch_size``; see :func:`.batch.check_batch_sizes`).
        DataError
            NaN features, no feature column, or rows not aligned with the guest's.
        MessageError
            A malformed message from a peer (names the peer).
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
        run = self._setup(ctx, p, train, validate)
        model = self.model_class(role="host", feature_names=list(train.feature_names))
        try:
            for k in range(run.setup.n_models):
                seconds: list[float] = []
                w, n_iter, converged = self._fit_one(ctx.sub("class", k), run, k, seconds)
                model.epoch_seconds.append(seconds)
                model.coef.append([float(v) for v in w])
                model.intercept.append(0.0)
                model.n_iter.append(n_iter)
                model.converged.append(converged)
        finally:
            if run.pool is not None:
                run.pool.close()
        return model

    def _setup(self, ctx: Context, p: GLMParams, train: Frame, validate: Frame | None) -> _Run:
        """Key, HOST_WEIGHTS, SETUP / HOST_SETUP (alignment, batch sizes), [y] for Poisson."""
        party, guest = str(ctx.party), str(ctx.guest)
        ep = p.encrypt_param
        pk = ctx.recv_public_key(msg.PUBLIC_KEY, scheme=ep.method, min_bits=ep.key_length)
        ctx.send(msg.HOST_WEIGHTS, train.n_features)  # what the arbiter may decrypt for us
        raw = ctx.recv(msg.SETUP)
        digest = ids_digest(train.ids)
        vdigest = ids_digest(validate.ids) if validate is not None else None
        ctx.send(msg.HOST_SETUP, records.HostSetup(digest, vdigest, train.n_features).to_wire())
        setup = records.Setup.from_wire(raw, guest)
        check_aligned(digest, setup.ids, party, guest, "training")
        if setup.n_rows != train.n_rows:
            raise MessageError(
                f"setup from {guest}: {setup.n_rows} rows where this host has {train.n_rows} aligned rows",
                party=guest,
                field="n_rows",
            )
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
        pool = None
        if ep.obfuscators == "local" and ep.method == "paillier":
            pool = ObfuscatorPool(pk, capacity=max(setup.plan.sizes), batch=256)
        xv = validate.features if validate is not None and setup.validate is not None else None
        return _Run(p, setup, train.features, xv, pk, pool, enc_label)

    def _fit_one(self, ctx: Context, run: _Run, k: int, seconds: list[float]) -> tuple[np.ndarray, int, bool]:
        p = run.p
        w = init_weights(p, run.x.shape[1], seed_offset=k)
        opt = Optimizer(p, len(w), False)
        masker = msg.Masker(run.pk, None if self.mask_seed is None else f"{self.mask_seed}/{ctx.party}/{k}")
        guest, arbiter = str(ctx.guest), str(ctx.arbiter)
        converged = False
        n_iter = 0
        for e in range(p.max_iter):
            ectx = ctx.sub("epoch", e)
            t0 = time.perf_counter()
            w_start = w.copy()
            for b in range(run.setup.plan.n_batches):
                w = self._batch(ectx.sub("batch", b), run, b, w, opt, masker, e)
            n_iter = e + 1
            if p.early_stop == "weight_diff":
                ectx.send(msg.WEIGHT_DIFF, float(np.sum((w - w_start) ** 2)))
            converged = records.expect_flag(ectx.recv(msg.CONVERGED), arbiter, "converged")
            stop = False
            if run.xv is not None and p.validates_at(e):
                ectx.send(msg.VALIDATE_FORWARD, run.xv @ w)
                stop = records.expect_flag(ectx.recv(msg.VALIDATION_STOP), guest, "validation_stop")
            seconds.append(time.perf_counter() - t0)
            if converged or stop:
                break
        return w, n_iter, converged

    def _batch(
        self, bctx: Context, run: _Run, b: int, w: np.ndarray, opt: Optimizer, masker: msg.Masker, e: int
    ) -> np.ndarray:
        """One mini-batch: forward to the guest, masked gradient to the arbiter, loss terms."""
        fam, p, pk = self.family, run.p, run.pk
        guest, arbiter = str(bctx.guest), str(bctx.arbiter)
        single = len(bctx.hosts) == 1
        rows = run.setup.plan.rows(b)
        xb = run.x[rows]
        n_b, m = len(rows), run.x.shape[1]
        wx = xb @ w
        f = fam.host_forward(wx)
        if p.encrypt_param.obfuscators == "arbiter":
            zeros = msg.expect_cipher(bctx.recv(msg.ZEROS), pk, n_b, "zeros", arbiter)
            fw = msg.with_scale(zeros, msg.FORWARD_FRAC_BITS) + f
        else:
            fw = pk.encrypt(f, msg.FORWARD_FRAC_BITS, pool=run.pool)
        bctx.send(msg.HOST_FORWARD, fw)
        penalty = n_b * opt.penalty(w)
        early_loss = fam.quadratic and single
        if early_loss:  # known before [d]: the guest can finish its loss sooner
            bctx.send(msg.HOST_LOSS, pk.encrypt(np.array([float(np.dot(f, f)), penalty])))
        d = msg.expect_cipher(bctx.recv(msg.RESIDUAL), pk, n_b, "residual", guest)
        cols = np.hstack([xb, f[:, None]]) if fam.quadratic and not single else xb
        dots = d.dot(cols, precision_bits=p.precision_bits)
        masked, masks = self._masked_gradient(masker, d, dots[:m])
        bctx.send(msg.MASKED_GRADIENT, masked)
        if not early_loss:
            if fam.quadratic:
                term = dots[m : m + 1]
            else:
                term = run.enc_label[rows].dot(wx, precision_bits=p.precision_bits)
            pen = pk.encrypt(np.array([penalty]))
            bctx.send(msg.HOST_LOSS, type(term).concat([term, pen]).obfuscate())
        raw = bctx.recv(msg.UNMASKED_GRADIENT)
        residues = msg.residues_from_bytes(raw, masker.n, len(masks), arbiter)
        grad = np.asarray(masker.unmask(residues, masks, masked.frac_bits)) / n_b
        return opt.step(w, grad, e)

    def _masked_gradient(self, masker: msg.Masker, d: Any, grad: Any) -> tuple[Any, list[int]]:
        """``[X_hᵀd + m]``, re-randomised (:meth:`.messages.Masker.mask`), and the masks.

        ``d`` is unused here; it is passed so that tests can play a host that deviates.
        """
        return masker.mask(grad)

    def predict(self, ctx: Context, model: GLMModel, data: Frame) -> None:
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
        if isinstance(model, dict):
            model = self.model_class.from_dict(model)
        self._check(data, party, "prediction")
        frame = check_columns(model.feature_names, data, party, self.family.algorithm)
        raw = ctx.recv(msg.PREDICT_SETUP)
        digest = ids_digest(frame.ids)
        coef = np.asarray(model.coef, dtype=np.float64).reshape(model.n_models, -1)
        ctx.send(msg.PREDICT_FORWARD, records.PredictForward(digest, frame.features @ coef.T).to_wire())
        setup = records.PredictSetup.from_wire(raw, str(ctx.guest))
        check_aligned(digest, setup.ids, party, str(ctx.guest), "prediction")
