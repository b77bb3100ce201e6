"""What the roles of a hetero GLM share: the algorithm's classes and parameters, and the steps
the guest and the hosts take alike (the arbiter's answer to a masked gradient, the epoch's end).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import ConfigError
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.glm import records
from fedloom.ml.hetero.glm.batch import BatchPlan
from fedloom.ml.hetero.glm.ciphers import PublicKey, Vector
from fedloom.ml.hetero.glm.loss import Family
from fedloom.ml.hetero.glm.model import GLMModel
from fedloom.ml.hetero.glm.optimizer import Optimizer, init_weights
from fedloom.ml.hetero.glm.params import GLMParams
from fedloom.ml.hetero.glm.sqn import SQNMemory, SQNSchedule


@dataclass(frozen=True)
class GLMKind:
    """What makes a GLM one algorithm: its parameters, its model and its family (residual, loss)."""

    params: type[GLMParams]
    model: type[GLMModel]
    family: Family


class GLMRole:
    """Base of the three roles; each algorithm binds its role classes to its kind::

        LR = GLMKind(HeteroLRParams, HeteroLRModel, LRFamily())
        class HeteroLRHost(GLMHost, kind=LR): ...

    Parameters
    ----------
    params
        The algorithm's params object, or a FATE-style dict (validated in ``fit``).
    """

    params_class: ClassVar[type[GLMParams]] = GLMParams
    model_class: ClassVar[type[GLMModel]] = GLMModel
    family: ClassVar[Family] = Family()

    def __init_subclass__(cls, kind: GLMKind | None = None, **rest: object) -> None:
        super().__init_subclass__(**rest)
        if kind is not None:
            cls.params_class, cls.model_class, cls.family = kind.params, kind.model, kind.family

    def __init__(self, params: GLMParams | Mapping[str, object] | None = None) -> None:
        self.params = params

    def _params(self) -> GLMParams:
        """The parameters, validated (a ConfigError names a bad field)."""
        return self.params_class.coerce(self.params)

    def _model(self, model: GLMModel | Mapping[str, object]) -> GLMModel:
        """A stored model (or its dict) as this algorithm's model."""
        return model if isinstance(model, GLMModel) else self.model_class.from_dict(model)


@dataclass
class Training:
    """One model's state on the guest or a host: weights, optimiser, masks, and what it did."""

    w: np.ndarray
    opt: Optimizer
    masker: msg.Masker
    seconds: list[float] = field(default_factory=list)  # wall time of each epoch
    n_iter: int = 0
    converged: bool = False
    sqn: SQNMemory | None = None  # optimizer sqn: this party's L-BFGS memory
    #: optimizer sqn: ``y_p = (X_Sᵀz)_p/|S|`` of a curvature pair for ``s_p`` (the role's protocol)
    hessian_product: Callable[[Context, np.ndarray], np.ndarray] | None = None


class GLMParty(GLMRole):
    """Base of the guest and the hosts: they hold data and mask the gradients they send.

    Parameters
    ----------
    params
        The algorithm's params object, or a FATE-style dict (validated in ``fit``).
    mask_seed
        Tests only: draw gradient masks from this seed instead of the OS CSPRNG.
    """

    def __init__(
        self, params: GLMParams | Mapping[str, object] | None = None, *, mask_seed: int | None = None
    ) -> None:
        super().__init__(params)
        self.mask_seed = mask_seed

    def _check_roles(self, ctx: Context, party: str) -> None:
        """At least one host, and only one where the family needs it (Poisson)."""
        fam = self.family
        if not ctx.hosts:
            raise ConfigError(f"{fam.algorithm} needs at least one host", party=party, field="role.host")
        if len(ctx.hosts) > 1 and not fam.multi_host:
            raise ConfigError(
                f"{fam.algorithm} supports one host; the job has {len(ctx.hosts)}",
                party=party,
                field="role.host",
            )

    @staticmethod
    def _start_weights(p: GLMParams, n_w: int, k: int, init: GLMModel | None, has_b: bool) -> np.ndarray:
        """Model ``k``'s first weights: drawn by ``init_param``, or ``init``'s on a warm start."""
        if init is None:
            return init_weights(p, n_w, seed_offset=k)
        return np.asarray(init.weights(k, has_b), dtype=np.float64)

    @staticmethod
    def _resume(
        t: Training,
        p: GLMParams,
        k: int,
        init: GLMModel | None,
        hessian_product: Callable[[Context, np.ndarray], np.ndarray],
    ) -> int:
        """Set up ``t``'s L-BFGS memory (optimizer sqn) and, on a warm start, ``init``'s optimiser
        state, epoch count, epoch times and convergence for model ``k``; returns the first epoch."""
        if p.optimizer == "sqn":
            t.sqn = SQNMemory(len(t.w), SQNSchedule(p.sqn_param.update_interval_L, p.sqn_param.memory_M))
            t.hessian_product = hessian_product
        first = 0
        if init is not None:
            t.opt.load_state(init.state_of(k))
            first = t.n_iter = init.epochs_of(k)
            t.seconds = list(init.epoch_seconds[k]) if k < len(init.epoch_seconds) else []
            t.converged = bool(init.converged[k]) if k < len(init.converged) else False
        return first

    def _epochs(
        self,
        ctx: Context,
        run: Any,
        t: Training,
        first: int,
        plan: Callable[[Context, int], BatchPlan],
        done: Callable[[int], None] | None = None,
    ) -> None:
        """Epochs ``first`` .. ``max_iter - 1`` of one model: each gets its batch plan from
        ``plan(ectx, e)``, runs its batches (:meth:`_batch`), is closed by :meth:`_end_epoch` and
        timed, then ``done(e)``; stops after the epoch :meth:`_end_epoch` says is the last."""
        for e in range(first, run.p.max_iter):
            ectx = msg.EPOCH.within(ctx, e)
            t0 = time.perf_counter()
            w_start = t.w.copy()
            for b in range(plan(ectx, e).n_batches):
                self._batch(msg.BATCH.within(ectx, b), run, t, b, e)
            t.n_iter = e + 1
            stop = self._end_epoch(ectx, run, t, e, w_start)
            t.seconds.append(time.perf_counter() - t0)
            if done is not None:
                done(e)
            if stop:
                break

    def _batch(self, bctx: Context, run: Any, t: Any, b: int, e: int) -> None:
        """One mini-batch of the role's protocol."""
        raise NotImplementedError

    def _end_epoch(self, ectx: Context, run: Any, t: Any, e: int, w_start: np.ndarray) -> bool:
        """The epoch's end (loss, convergence, validation); ``True``: it was the last epoch."""
        raise NotImplementedError

    def _masker(self, ctx: Context, pk: PublicKey, k: int) -> msg.Masker:
        """The masks of model ``k``'s gradients (seeded per party and model in tests)."""
        return msg.Masker(pk, None if self.mask_seed is None else f"{self.mask_seed}/{ctx.party}/{k}")

    def _apply_gradient(
        self, bctx: Context, t: Training, masked: Vector, masks: list[int], n_b: int, e: int
    ) -> None:
        """UNMASKED_GRADIENT: the arbiter's answer unmasked to our batch gradient; one optimiser step."""
        raw = bctx.recv(msg.UNMASKED_GRADIENT)
        grad_sum = t.masker.open(raw, masks, masked.frac_bits, str(bctx.arbiter))
        if t.sqn is None:
            t.w = t.opt.step(t.w, grad_sum / n_b, e)
        else:
            self._sqn_step(bctx, t, grad_sum / n_b, e)

    def _sqn_step(self, bctx: Context, t: Training, grad: np.ndarray, e: int) -> None:
        """optimizer sqn (:mod:`.sqn`): the two-loop direction through secure sums, the step, and a
        curvature pair when one is due (Hessian product, then one secure sum)."""
        assert t.sqn is not None and t.hessian_product is not None
        p = t.opt.params
        penalised = t.opt._penalised() if p.penalty == "L2" else np.zeros(len(t.w))
        rounds = itertools.count()

        def gsum(values: np.ndarray) -> np.ndarray:
            return self._secure_sum(msg.SQN_ROUND.within(bctx, next(rounds)), values)

        g = grad + p.alpha * t.w * penalised
        t.w = np.asarray(t.w - p.learning_rate_at(e) * t.sqn.direction(g, gsum), dtype=np.float64)
        s = t.sqn.after_step(t.w)
        if s is not None:
            y = t.hessian_product(bctx, s) + p.alpha * s * penalised
            t.sqn.add_pair(s, y, gsum)

    def _secure_sum(self, rctx: Context, values: np.ndarray) -> np.ndarray:
        """The global sums of ``values`` over the guest and hosts (role-specific masks)."""
        raise NotImplementedError

    def _open_hvp(self, bctx: Context, t: Training, product: Vector, size: int) -> np.ndarray:
        """MASKED_HVP → UNMASKED_HVP: our ``X_pᵀz`` masked, decrypted by the arbiter, ``/|S|``."""
        masked, masks = t.masker.mask(product)
        bctx.send(msg.MASKED_HVP, masked)
        raw = bctx.recv(msg.UNMASKED_HVP)
        return t.masker.open(raw, masks, masked.frac_bits, str(bctx.arbiter)) / size

    def _converged(self, ectx: Context, p: GLMParams, t: Training, w_start: np.ndarray) -> bool:
        """WEIGHT_DIFF to the arbiter (``early_stop: weight_diff`` only), its CONVERGED back."""
        if p.early_stop == "weight_diff":
            ectx.send(msg.WEIGHT_DIFF, float(np.sum((t.w - w_start) ** 2)))
        return records.expect_flag(ectx.recv(msg.CONVERGED), str(ectx.arbiter), "converged")
