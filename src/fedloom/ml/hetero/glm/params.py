"""Parameters of the hetero GLMs (LR, LinR, Poisson): FATE 1.x names, nesting and meaning.

Every name of FATE's ``HeteroLogisticParam`` / ``HeteroLinearParam`` / ``PoissonParam`` is
accepted, so FATE confs run unchanged; an unknown name is a :class:`~fedloom.core.ConfigError`
naming the dotted field (``init_param.init_methd``). Names that configure features fedloom does
not implement are accepted at their defaults and refused when switched on (``cv_param.need_cv``,
``stepwise_param.need_stepwise``,
``encrypt_param.method: IterativeAffine``).

fedloom extras: ``encrypt_param.method: plain`` (no encryption, debugging only) and
``encrypt_param.obfuscators`` (``arbiter``: the key owner makes the encryptions of zero that
randomise the guest's and hosts' ciphertexts, see :mod:`fedloom.ml.hetero.glm`; ``local``: each
party draws its own from a background :class:`~fedloom.crypto.paillier.ObfuscatorPool`), and
``multi_class: binary`` (refuse labels with more than two classes instead of one-vs-rest), and
``allow_small_batches`` (accept batches small enough for a party to solve its gradient for the
residual; refused by default).

Differences from FATE's defaults, on purpose: ``encrypt_param.key_length`` is 2048 (FATE: 1024).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from fedloom.ml.hetero import params_common
from fedloom.ml.hetero.params_common import (
    AlgorithmParams,
    EncryptedModeCalculatorParam,
    NotImplementedFlag,
    ParamBlock,
    any_case,
    canonical,
    check_validation_freqs,
    merge_callback_param,
    validates_at,
)

PENALTIES = ("L1", "L2", "none")
OPTIMIZERS = ("sgd", "rmsprop", "adam", "adagrad", "nesterov_momentum_sgd")
EARLY_STOPS = ("diff", "weight_diff", "abs")
INIT_METHODS = ("zeros", "ones", "const", "random_uniform", "random_normal", "random")


class InitParam(ParamBlock):
    """``init_param``: how weights start.

    Attributes
    ----------
    init_method
        ``zeros``, ``ones``, ``const`` (``init_const``), ``random_uniform`` (U[0, 1)),
        ``random_normal`` / ``random`` (N(0, 1)). FATE's default is ``random_uniform``.
    init_const
        The value for ``const``.
    fit_intercept
        The guest's model has an intercept (hosts never have one).
    random_seed
        Seed of the random initialisation and of the batch shuffle (None: fresh randomness).
    """

    init_method: Annotated[str, any_case(*INIT_METHODS)] = "random_uniform"
    init_const: float = 1.0
    fit_intercept: StrictBool = True
    random_seed: StrictInt | None = None


class EncryptParam(params_common.EncryptParam):
    """``encrypt_param``: the cipher (``method``, ``key_length``: see
    :class:`fedloom.ml.hetero.params_common.EncryptParam`) and who makes the obfuscators.

    Attributes
    ----------
    obfuscators
        ``arbiter`` (default): the arbiter, who owns the key, sends fresh encryptions of zero that
        randomise the other parties' ciphertexts; ``local``: each party draws its own obfuscators
        in a background thread. Same security: either way every ciphertext the arbiter decrypts
        is first re-randomised by its sender with a uniform :math:`r^n` (see
        :mod:`fedloom.ml.hetero.glm`).
    """

    obfuscators: Literal["arbiter", "local"] = "arbiter"


class PredictParam(ParamBlock):
    """``predict_param``: the binary decision threshold."""

    threshold: float = Field(default=0.5, ge=0.0, le=1.0)


class CrossValidationParam(ParamBlock):
    """``cv_param``: the model component runs cross-validation (:mod:`fedloom.components.model`) and
    never passes ``cv_param`` here; the algorithm alone refuses ``need_cv: true``."""

    n_splits: StrictInt = 5
    mode: str = "hetero"
    role: str = "guest"
    shuffle: StrictBool = True
    random_seed: StrictInt | None = 1
    need_cv: NotImplementedFlag = False
    output_fold_history: StrictBool = True
    history_value_type: str = "score"


class StepwiseParam(ParamBlock):
    """``stepwise_param``: accepted; ``need_stepwise: true`` is refused."""

    score_name: str = "AIC"
    mode: str = "hetero"
    role: str = "guest"
    direction: str = "both"
    max_step: StrictInt = 10
    nvmin: StrictInt = 2
    nvmax: StrictInt | None = None
    need_stepwise: NotImplementedFlag = False


class StochasticQuasiNewtonParam(ParamBlock):
    """``sqn_param`` of ``optimizer: sqn`` (LR, LinR; :mod:`fedloom.ml.hetero.glm.sqn`): a curvature
    pair every ``update_interval_L`` steps, ``memory_M`` pairs kept, the Hessian on
    ``sample_size`` rows drawn with ``random_seed``."""

    update_interval_L: StrictInt = Field(default=3, ge=1)  # noqa: N815 - FATE's name
    memory_M: StrictInt = Field(default=5, ge=1)  # noqa: N815 - FATE's name
    sample_size: StrictInt = Field(default=5000, ge=1)
    random_seed: StrictInt | None = None


class CallbackParam(ParamBlock):
    """``callback_param`` (FATE 1.7+): validation settings may be given here instead of at the top."""

    callbacks: list[str] = Field(default_factory=list)
    validation_freqs: StrictInt | list[StrictInt] | None = None
    early_stopping_rounds: StrictInt | None = None
    metrics: list[str] | None = None
    use_first_metric_only: StrictBool = False
    save_freq: StrictInt = 1


class GLMParams(AlgorithmParams):
    """Parameters shared by HeteroLR, HeteroLinR and HeteroPoisson (FATE's names).

    Attributes
    ----------
    penalty
        ``L1`` (proximal soft-thresholding after each step), ``L2`` (``alpha·w`` added to the
        gradient) or ``none``; the intercept is never penalised.
    tol
        Convergence tolerance of ``early_stop``.
    alpha
        Regularisation strength.
    optimizer
        ``sgd``, ``rmsprop``, ``adam``, ``adagrad``, ``nesterov_momentum_sgd`` (FATE's update rules).
    batch_size
        Rows per mini-batch; ``-1``: the whole data set (full batch).
    shuffle
        Shuffle rows once before cutting them into batches (the same batches every epoch).
    batch_strategy
        ``full``: the rows are cut into batches once (after a seeded shuffle with ``shuffle``), the
        same batches every epoch; ``random`` (FATE 1.x): each epoch is one batch of
        ``batch_size`` distinct rows drawn afresh (from ``init_param.random_seed``, epoch and
        model; fresh randomness without a seed), sent to the hosts as ``EPOCH_PLAN``; as in
        FATE, a batch size covering every row falls back to one full batch and ``shuffle`` is
        not used.
    masked_rate
        Accepted and without effect: in FATE 1.x the masked index set of ``random`` batches is
        capped at ``batch_size`` (so it is the batch), and under ``full`` the host learns the
        batch's rows from the keys of ``[d]`` anyway; fedloom sends the exact rows.
    learning_rate
        Initial step size; at epoch ``t`` it is ``lr / (1 + decay·t)`` (``lr / sqrt(1 + decay·t)``
        with ``decay_sqrt``).
    max_iter
        Epochs at most.
    early_stop
        ``diff`` (|loss change| < tol), ``abs`` (loss < tol), ``weight_diff`` (‖Δw‖ < tol over all
        parties' weights).
    validation_freqs
        Evaluate the validation data every this many epochs (or at the listed epochs, 1-based).
    early_stopping_rounds
        Stop when the validation metric has not improved for this many evaluations.
    metrics, use_first_metric_only
        Validation metrics (default: ``auc``, ``ks`` for binary; ``accuracy`` for multi-class;
        ``rmse``, ``mae`` for regression); early stopping watches the first one only, or all.
    floating_point_precision
        Bits of the low-precision encoding of features in ``[d]·x`` (FATE: 23).
    allow_small_batches
        fedloom; default false. A party with :math:`k` weights that gets the gradient
        :math:`X^Td` of a batch of at most :math:`k + 1` rows can solve it for the residual
        :math:`d` (a host: hence the labels). Such batch plans (any batch, the last short one
        included) are refused with a ConfigError naming ``batch_size`` unless this is true.
    """

    algorithm: ClassVar[str] = "HeteroGLM"

    penalty: Annotated[str, any_case(*PENALTIES)] = "L2"
    tol: float = Field(default=1e-4, ge=0.0)
    alpha: float = Field(default=1.0, ge=0.0)
    optimizer: str = "sgd"
    batch_size: StrictInt = -1
    shuffle: StrictBool = True
    batch_strategy: Annotated[str, any_case("full", "random")] = "full"
    masked_rate: StrictInt = 5
    learning_rate: float = Field(default=0.01, gt=0.0)
    init_param: InitParam = Field(default_factory=InitParam)
    max_iter: StrictInt = Field(default=20, ge=1)
    early_stop: Annotated[str, any_case(*EARLY_STOPS)] = "diff"
    encrypt_param: EncryptParam = Field(default_factory=EncryptParam)
    encrypted_mode_calculator_param: EncryptedModeCalculatorParam = Field(
        default_factory=EncryptedModeCalculatorParam
    )
    cv_param: CrossValidationParam = Field(default_factory=CrossValidationParam)
    stepwise_param: StepwiseParam = Field(default_factory=StepwiseParam)
    sqn_param: StochasticQuasiNewtonParam = Field(default_factory=StochasticQuasiNewtonParam)
    callback_param: CallbackParam = Field(default_factory=CallbackParam)
    decay: float = Field(default=1.0, ge=0.0)
    decay_sqrt: StrictBool = True
    validation_freqs: StrictInt | list[StrictInt] | None = None
    early_stopping_rounds: StrictInt | None = Field(default=None, ge=1)
    metrics: list[str] | None = None
    use_first_metric_only: StrictBool = False
    floating_point_precision: StrictInt | None = Field(default=23, ge=1, le=52)
    allow_small_batches: StrictBool = False

    @field_validator("optimizer", mode="before")
    @classmethod
    def _optimizer(cls, v: object) -> str:
        return canonical(v, (*OPTIMIZERS, "sqn"))

    @field_validator("batch_size")
    @classmethod
    def _batch(cls, v: int) -> int:
        if v != -1 and v < 1:
            raise ValueError("must be -1 (full batch) or a positive int")
        return v

    @field_validator("validation_freqs")
    @classmethod
    def _freqs(cls, v: int | list[int] | None) -> int | list[int] | None:
        return check_validation_freqs(v, "epochs")

    @model_validator(mode="after")
    def _merge_callbacks(self) -> GLMParams:
        merge_callback_param(self)
        return self

    # -- derived -------------------------------------------------------------------------------
    @property
    def precision_bits(self) -> int:
        """Bits of the feature encoding in ``[d]·x`` (None in the conf means 52: full float)."""
        return 52 if self.floating_point_precision is None else self.floating_point_precision

    def validates_at(self, epoch: int) -> bool:
        """Whether validation runs after ``epoch`` (0-based)."""
        return validates_at(self.validation_freqs, epoch)

    def learning_rate_at(self, epoch: int) -> float:
        """FATE's decayed learning rate at ``epoch`` (0-based)."""
        if self.decay_sqrt:
            return float(self.learning_rate / (1.0 + self.decay * epoch) ** 0.5)
        return float(self.learning_rate / (1.0 + self.decay * epoch))


class HeteroLRParams(GLMParams):
    """HeteroLR parameters (FATE's ``HeteroLogisticParam``): see :class:`GLMParams`.

    Extra attributes: ``multi_class`` (``ovr``: one binary model per class when the label has
    more than two classes; ``binary``: refuse such labels), ``predict_param.threshold``.
    FATE's LR defaults: rmsprop, learning rate 0.01, alpha 1, 100 epochs.
    """

    algorithm: ClassVar[str] = "HeteroLR"

    optimizer: str = "rmsprop"
    max_iter: StrictInt = Field(default=100, ge=1)
    multi_class: Literal["ovr", "binary"] = "ovr"
    predict_param: PredictParam = Field(default_factory=PredictParam)
    reveal_every_iter: StrictBool = False
    reveal_strategy: str = "respectively"
    use_mix_rand: StrictBool = False


class HeteroLinRParams(GLMParams):
    """HeteroLinR parameters (FATE's ``LinearParam``): see :class:`GLMParams` (sgd, 20 epochs)."""

    algorithm: ClassVar[str] = "HeteroLinR"


class HeteroPoissonParams(GLMParams):
    """HeteroPoisson parameters (FATE's ``PoissonParam``): see :class:`GLMParams`.

    Extra attribute: ``exposure_colname``, a guest feature column holding each row's exposure
    (> 0); the model uses ``log(exposure)`` as an offset and it is not a feature. A name the
    guest's data does not have is ignored with a warning (as in FATE).
    """

    algorithm: ClassVar[str] = "HeteroPoisson"

    optimizer: str = "rmsprop"
    exposure_colname: str | None = None
