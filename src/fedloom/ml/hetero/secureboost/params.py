"""Parameters of Hetero SecureBoost: FATE 1.x ``HeteroSecureBoostParam`` names, defaults and meaning.

Every name of FATE's ``HeteroSecureBoostParam`` / ``DecisionTreeParam`` is accepted, so FATE
confs run unchanged; an unknown name is a :class:`~fedloom.core.errors.ConfigError` naming the
dotted field (``tree_param.max_dept``).

fedloom extras: ``encrypt_param.method: plain`` (no encryption: debugging and measuring the cost
of cryptography only). Differences from FATE on purpose: ``encrypt_param.key_length`` defaults to
2048 (FATE: 1024; FATE's example confs set 1024 explicitly, which is accepted).

``tree_param.criterion_params`` is FATE's ``[l2]`` or ``[l2, l1]`` (FATE's ``XgboostCriterion``
takes ``reg_lambda`` first, then ``reg_alpha``).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from fedloom.ml.hetero.binning.params import EncryptedModeCalculatorParam, EncryptParam
from fedloom.ml.hetero.glm.params import CallbackParam, CrossValidationParam, PredictParam
from fedloom.ml.hetero.params_common import (
    AlgorithmParams,
    NotImplementedFlag,
    ParamBlock,
    any_case,
    check_validation_freqs,
    merge_callback_param,
    only_first,
    validates_at,
)

TASK_TYPES = ("classification", "regression")
CLASSIFICATION_OBJECTIVES = ("cross_entropy",)
REGRESSION_OBJECTIVES = ("lse", "lae", "huber", "fair", "log_cosh", "tweedie")
MULTI_MODES = ("SingleOutput", "MultiOutput")


class ObjectiveParam(ParamBlock):
    """``objective_param``: the loss. ``cross_entropy`` (classification: sigmoid for two classes,
    softmax for more); regression ``lse`` (default for regression), ``lae``, ``huber``, ``fair``,
    ``log_cosh``, ``tweedie``; ``params``: the objective's parameters (huber / fair: the delta /
    c; tweedie: the variance power)."""

    objective: Annotated[str, any_case(*CLASSIFICATION_OBJECTIVES, *REGRESSION_OBJECTIVES)] | None = None
    params: list[float] | None = None


class DecisionTreeParam(ParamBlock):
    """``tree_param``: one tree.

    Attributes
    ----------
    criterion_method
        ``xgboost`` (the only one FATE offers).
    criterion_params
        ``[l2]`` or ``[l2, l1]``: ``gain = S(G_L, H_L) + S(G_R, H_R) − S(G, H)`` with
        ``S(G, H) = soft(G, l1)² / (H + l2)`` and leaf weight ``−soft(G, l1) / (H + l2)``.
    max_depth
        Levels of splits (a tree of depth ``d`` has at most ``2^d`` leaves).
    min_sample_split
        A node with fewer rows is a leaf.
    min_impurity_split
        A split must gain more than this.
    min_leaf_node
        Rows each child needs at least.
    min_child_weight
        Hessian sum each child needs at least.
    max_split_nodes
        Accepted (FATE's batching of nodes per round); fedloom sends all nodes of a level at once.
    feature_importance_type
        ``split`` (times a feature is used) or ``gain`` (total gain); both are computed.
    use_missing, zero_as_missing
        See :class:`HeteroSecureBoostParams` (either place switches them on).
    """

    criterion_method: Annotated[str, only_first("xgboost")] = "xgboost"
    criterion_params: list[float] = Field(default_factory=lambda: [0.1, 0.0])
    max_depth: StrictInt = Field(default=3, ge=1, le=32)
    min_sample_split: StrictInt = Field(default=2, ge=2)
    min_impurity_split: float = Field(default=1e-3, ge=0.0)
    min_leaf_node: StrictInt = Field(default=1, ge=1)
    min_child_weight: float = Field(default=0.0, ge=0.0)
    max_split_nodes: StrictInt = Field(default=2**16, ge=1)
    feature_importance_type: Annotated[str, any_case("split", "gain")] = "split"
    n_iter_no_change: StrictBool = True
    tol: float = Field(default=1e-3, ge=0.0)
    use_missing: StrictBool = False
    zero_as_missing: StrictBool = False
    deterministic: StrictBool = False

    @field_validator("criterion_params")
    @classmethod
    def _criterion(cls, v: list[float]) -> list[float]:
        if not 1 <= len(v) <= 2 or any(x < 0 for x in v):
            raise ValueError("must be [l2] or [l2, l1], non-negative")
        return v

    @property
    def l2(self) -> float:
        """L2 regularisation λ."""
        return float(self.criterion_params[0])

    @property
    def l1(self) -> float:
        """L1 regularisation α."""
        return float(self.criterion_params[1]) if len(self.criterion_params) > 1 else 0.0


class HeteroSecureBoostParams(AlgorithmParams):
    """Hetero SecureBoost parameters (FATE 1.x ``HeteroSecureBoostParam``).

    Attributes
    ----------
    task_type
        ``classification`` (binary or multi-class, from the label) or ``regression``.
    objective_param, learning_rate, num_trees
        The loss, the shrinkage applied to every leaf, the boosting rounds.
    subsample_feature_rate
        Fraction of its own features each party samples per tree (seeded by ``random_seed``).
    n_iter_no_change, tol
        Stop when the training loss changes by less than ``tol`` between rounds.
    bin_num, binning_error
        Quantile bins per feature and the quantile summary's relative rank error.
    encrypt_param
        ``Paillier`` (default) or ``plain`` (debugging); ``key_length``.
    validation_freqs, early_stopping_rounds, metrics, use_first_metric_only
        Validation every so many rounds (or at the listed rounds) on the validate data; stop after
        ``early_stopping_rounds`` validations without improvement.
    use_missing, zero_as_missing
        NaN (and with ``zero_as_missing`` zero) go to a missing bin whose side each split learns;
        without ``use_missing`` missing values always go right.
    cipher_compress
        Pack several split candidates per ciphertext on the way back to the guest.
    run_goss, top_rate, other_rate
        Gradient-based one-side sampling per tree.
    complete_secure
        The first ``complete_secure`` trees (``true``: 1) use the guest's features only.
    multi_mode
        ``SingleOutput`` (one tree per class per round) or ``MultiOutput`` (one tree with a leaf
        vector).
    random_seed
        Seed of GOSS and of feature subsampling.
    predict_param
        ``threshold`` of binary predictions.
    """

    algorithm: ClassVar[str] = "HeteroSecureBoost"

    task_type: Annotated[str, any_case(*TASK_TYPES)] = "classification"
    objective_param: ObjectiveParam = Field(default_factory=ObjectiveParam)
    learning_rate: float = Field(default=0.3, gt=0.0)
    num_trees: StrictInt = Field(default=5, ge=1)
    subsample_feature_rate: float = Field(default=1.0, gt=0.0, le=1.0)
    n_iter_no_change: StrictBool = True
    tol: float = Field(default=1e-4, ge=0.0)
    bin_num: StrictInt = Field(default=32, ge=2, le=1 << 16)
    binning_error: float = Field(default=1e-4, gt=0.0, lt=1.0)
    tree_param: DecisionTreeParam = Field(default_factory=DecisionTreeParam)
    encrypt_param: EncryptParam = Field(default_factory=EncryptParam)
    encrypted_mode_calculator_param: EncryptedModeCalculatorParam = Field(
        default_factory=EncryptedModeCalculatorParam
    )
    predict_param: PredictParam = Field(default_factory=PredictParam)
    cv_param: CrossValidationParam = Field(default_factory=CrossValidationParam)
    callback_param: CallbackParam = Field(default_factory=CallbackParam)
    validation_freqs: StrictInt | list[StrictInt] | None = None
    early_stopping_rounds: StrictInt | None = Field(default=None, ge=1)
    metrics: list[str] | None = None
    use_first_metric_only: StrictBool = False
    use_missing: StrictBool = False
    zero_as_missing: StrictBool = False
    complete_secure: StrictBool | StrictInt = False
    random_seed: StrictInt | None = 100
    sparse_optimization: StrictBool = False
    run_goss: StrictBool = False
    top_rate: float = Field(default=0.2, gt=0.0, lt=1.0)
    other_rate: float = Field(default=0.1, gt=0.0, lt=1.0)
    cipher_compress_error: float | None = None
    cipher_compress: StrictBool = True
    new_ver: StrictBool = True
    boosting_strategy: Annotated[str, only_first("std", "mix", "layered")] = "std"
    work_mode: str | None = None
    tree_num_per_party: StrictInt = 1
    guest_depth: StrictInt = 2
    host_depth: StrictInt = 3
    multi_mode: Annotated[str, any_case(*MULTI_MODES)] = "SingleOutput"
    EINI_inference: NotImplementedFlag = False
    EINI_randomized: NotImplementedFlag = False
    EINI_complexity_check: NotImplementedFlag = False

    @field_validator("validation_freqs")
    @classmethod
    def _freqs(cls, v: int | list[int] | None) -> int | list[int] | None:
        return check_validation_freqs(v, "rounds")

    @field_validator("complete_secure")
    @classmethod
    def _complete(cls, v: bool | int) -> bool | int:
        if not isinstance(v, bool) and v < 0:
            raise ValueError("must be a bool or a number of trees >= 0")
        return v

    @model_validator(mode="after")
    def _check(self) -> HeteroSecureBoostParams:
        merge_callback_param(self)
        obj = self.objective_param.objective
        if obj is not None:
            allowed = (
                CLASSIFICATION_OBJECTIVES if self.task_type == "classification" else REGRESSION_OBJECTIVES
            )
            if obj not in allowed:
                raise ValueError(
                    f"objective_param.objective {obj!r} does not fit task_type {self.task_type!r} "
                    f"(one of {', '.join(allowed)})"
                )
        if self.run_goss and self.top_rate + self.other_rate > 1.0:
            raise ValueError("run_goss needs top_rate + other_rate <= 1")
        return self

    # -- derived -------------------------------------------------------------------------------
    @property
    def objective(self) -> str:
        """The objective's name (default: ``cross_entropy`` / ``lse``)."""
        o = self.objective_param.objective
        if o is not None:
            return o
        return "cross_entropy" if self.task_type == "classification" else "lse"

    @property
    def missing(self) -> bool:
        """Missing values get a bin whose side each split learns."""
        return self.use_missing or self.tree_param.use_missing

    @property
    def zeros_missing(self) -> bool:
        """Zeros count as missing values."""
        return self.zero_as_missing or self.tree_param.zero_as_missing

    @property
    def n_complete_secure(self) -> int:
        """Trees built on the guest's features only."""
        return int(self.complete_secure)  # true is one tree

    @property
    def multi_output(self) -> bool:
        """One tree with vector leaves per round (more than two classes)."""
        return self.multi_mode == "MultiOutput"

    def validates_at(self, rnd: int) -> bool:
        """Whether validation runs after round ``rnd`` (0-based)."""
        return validates_at(self.validation_freqs, rnd)
