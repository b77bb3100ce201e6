"""Parameters of hetero feature selection: FATE 1.x's ``FeatureSelectionParam`` names and nesting.

================================  ================================================================
``select_col_indexes``            ``-1`` (default): every feature is a candidate; else a list of
                                  positions, to which ``select_names`` adds names. Non-candidates
                                  are kept untouched by every filter (FATE).
``filter_methods``                the filters, applied in this order, each on the candidates the
                                  previous one left (default ``["manually"]``)
``manually_param``                ``filter_out_indexes``, ``filter_out_names``,
                                  ``left_col_indexes``, ``left_col_names`` (not both kinds)
``unique_param``                  ``eps`` (1e-5): ``unique_value`` keeps ``std >= eps``
``iv_value_param``                ``value_threshold`` (0.0), ``host_thresholds``, ``local_only``
``iv_percentile_param``           ``percentile_threshold`` (1.0), ``local_only``
``iv_top_k_param``                ``k`` (10), ``local_only``
``iv_param``                      the ``iv_filter`` form: ``metrics`` ("iv"), ``filter_type``
                                  (threshold / top_k / top_percentile), ``take_high`` (must be
                                  true), ``threshold`` (the threshold, k or fraction),
                                  ``host_thresholds``, ``select_federated`` (true),
                                  ``mul_class_merge_type`` (average / min / max); each may be a
                                  list, one entry per ``iv_filter`` in ``filter_methods``
``variance_coe_param``            ``value_threshold`` (1.0): ``coefficient_of_variation_value_thres``
``variance_value_param``          ``value_threshold`` (0.0): ``variance_value`` keeps
                                  ``variance >= value_threshold`` (a fedloom addition)
``percentage_value_param``        ``upper_pct`` (1.0, in [0.1, 1])
``outlier_param``                 ``percentile`` (1.0), ``upper_threshold`` (1.0)
================================  ================================================================

FATE's other filters (``statistic_filter``, ``psi_filter``, the SBT, VIF and correlation
filters) are refused with a ConfigError; their parameter blocks are accepted (and unused) so that
FATE confs that carry them still load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import Field, StrictBool, field_validator, model_validator

from fedloom.core.errors import DataError
from fedloom.ml.feature.selection import FilterType, MergeType
from fedloom.ml.hetero.params_common import AlgorithmParams, ParamBlock

__all__ = [
    "IV_METHODS",
    "LOCAL_METHODS",
    "HeteroFeatureSelectionParams",
    "IVRule",
]

#: Filters decided on IVs from the binning model (federated unless local_only / select_federated false).
IV_METHODS = ("iv_value_thres", "iv_percentile", "iv_top_k", "iv_filter")
#: Filters each party runs on its own data.
LOCAL_METHODS = (
    "manually",
    "unique_value",
    "variance_value",
    "coefficient_of_variation_value_thres",
    "percentage_value",
    "outlier_cols",
)
_FATE_ONLY = (
    "statistic_filter",
    "psi_filter",
    "hetero_sbt_filter",
    "homo_sbt_filter",
    "hetero_fast_sbt_filter",
    "vif_filter",
    "correlation_filter",
)


class UniqueValueParam(ParamBlock):
    """``unique_param``."""

    eps: Annotated[float, Field(gt=0)] = 1e-5


class IVValueSelectionParam(ParamBlock):
    """``iv_value_param``."""

    value_threshold: float = 0.0
    host_thresholds: list[float] | None = None
    local_only: StrictBool = False


class IVPercentileSelectionParam(ParamBlock):
    """``iv_percentile_param``."""

    percentile_threshold: Annotated[float, Field(ge=0, le=1)] = 1.0
    local_only: StrictBool = False


class IVTopKParam(ParamBlock):
    """``iv_top_k_param``."""

    k: Annotated[int, Field(ge=1)] = 10
    local_only: StrictBool = False


class VarianceOfCoeSelectionParam(ParamBlock):
    """``variance_coe_param``."""

    value_threshold: Annotated[float, Field(ge=0)] = 1.0


class VarianceValueParam(ParamBlock):
    """``variance_value_param`` (fedloom)."""

    value_threshold: Annotated[float, Field(ge=0)] = 0.0


class OutlierColsSelectionParam(ParamBlock):
    """``outlier_param``."""

    percentile: Annotated[float, Field(ge=0, le=1)] = 1.0
    upper_threshold: float = 1.0


class PercentageValueParam(ParamBlock):
    """``percentage_value_param``."""

    upper_pct: Annotated[float, Field(ge=0.1, le=1)] = 1.0


class ManuallyFilterParam(ParamBlock):
    """``manually_param``: drop the listed columns, or keep only the listed ones (not both)."""

    filter_out_indexes: list[Annotated[int, Field(ge=0)]] | None = None
    filter_out_names: list[str] | None = None
    left_col_indexes: list[Annotated[int, Field(ge=0)]] | None = None
    left_col_names: list[str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ManuallyFilterParam:
        drop = self.filter_out_indexes is not None or self.filter_out_names is not None
        left = self.left_col_indexes is not None or self.left_col_names is not None
        if drop and left:
            raise ValueError(
                "left_col_indexes / left_col_names cannot be used with filter_out_indexes / names"
            )
        return self


class IVFilterParam(ParamBlock):
    """``iv_param`` (FATE's ``CommonFilterParam`` for IV): scalars, or one entry per ``iv_filter``."""

    metrics: str | list[str] = "iv"
    filter_type: str | list[str] = "threshold"
    take_high: StrictBool | list[StrictBool] = True
    threshold: float | list[float] = 1.0
    host_thresholds: list[float] | list[list[float]] | None = None
    select_federated: StrictBool | list[StrictBool] = True
    mul_class_merge_type: str | list[str] = "average"

    @field_validator("metrics", "filter_type", "mul_class_merge_type", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        if isinstance(v, str):
            return v.lower()
        if isinstance(v, list):
            return [x.lower() if isinstance(x, str) else x for x in v]
        return v

    @model_validator(mode="after")
    def _check(self) -> IVFilterParam:
        metrics = self.metrics if isinstance(self.metrics, list) else [self.metrics]
        if any(m != "iv" for m in metrics):
            raise ValueError(f"metrics of the iv filter must be 'iv'. Got {self.metrics!r}")
        n = len(metrics)
        for name in ("filter_type", "take_high", "threshold", "select_federated", "mul_class_merge_type"):
            v = getattr(self, name)
            if isinstance(v, list) and len(v) != n:
                raise ValueError(f"{name} lists {len(v)} values for {n} metric(s)")
        for i in range(n):
            ftype, thr = self.at("filter_type", i), float(self.at("threshold", i))
            if ftype not in ("threshold", "top_k", "top_percentile"):
                raise ValueError(f"filter_type must be threshold, top_k or top_percentile. Got {ftype!r}")
            if not self.at("take_high", i):
                raise ValueError("the iv filter keeps high IVs: take_high must be true")
            if ftype == "top_k" and (thr != int(thr) or thr < 1):
                raise ValueError(f"threshold is k for top_k: a positive integer. Got {thr!r}")
            if ftype == "top_percentile" and not 0 <= thr <= 1:
                raise ValueError(f"threshold is a fraction in [0, 1] for top_percentile. Got {thr!r}")
            if not math.isfinite(thr):
                raise ValueError(f"threshold must be finite. Got {thr!r}")
            if self.at("mul_class_merge_type", i) not in ("average", "min", "max"):
                raise ValueError("mul_class_merge_type must be average, min or max")
        return self

    def at(self, name: str, i: int) -> Any:
        """Field ``name`` for the ``i``-th ``iv_filter`` (a scalar applies to all)."""
        v = getattr(self, name)
        return v[i] if isinstance(v, list) else v


@dataclass(frozen=True)
class IVRule:
    """One IV filter, whatever FATE form it was written in.

    Attributes
    ----------
    filter_type, threshold
        The rule of :func:`~fedloom.ml.feature.selection.select_by_value` (take high).
    host_thresholds
        ``threshold`` only: one threshold per host, in the conf's host order (None: ``threshold``).
    select_federated
        The guest ranks guest and host columns together and tells each host what it keeps; else
        the guest filters its own columns and the hosts keep theirs.
    merge
        Multi-class IV merge.
    """

    filter_type: FilterType
    threshold: float
    host_thresholds: tuple[float, ...] | None
    select_federated: bool
    merge: MergeType


class HeteroFeatureSelectionParams(AlgorithmParams):
    """All parameters of ``HeteroFeatureSelection`` (see the module docs)."""

    algorithm: ClassVar[str] = "HeteroFeatureSelection"

    select_col_indexes: int | list[Annotated[int, Field(ge=0)]] = -1
    select_names: list[str] | None = None
    filter_methods: list[str] = Field(default_factory=lambda: ["manually"])
    unique_param: UniqueValueParam = Field(default_factory=UniqueValueParam)
    iv_value_param: IVValueSelectionParam = Field(default_factory=IVValueSelectionParam)
    iv_percentile_param: IVPercentileSelectionParam = Field(default_factory=IVPercentileSelectionParam)
    iv_top_k_param: IVTopKParam = Field(default_factory=IVTopKParam)
    variance_coe_param: VarianceOfCoeSelectionParam = Field(default_factory=VarianceOfCoeSelectionParam)
    variance_value_param: VarianceValueParam = Field(default_factory=VarianceValueParam)
    outlier_param: OutlierColsSelectionParam = Field(default_factory=OutlierColsSelectionParam)
    manually_param: ManuallyFilterParam = Field(default_factory=ManuallyFilterParam)
    percentage_value_param: PercentageValueParam = Field(default_factory=PercentageValueParam)
    iv_param: IVFilterParam = Field(default_factory=IVFilterParam)
    # FATE's blocks for filters fedloom does not run: accepted so that FATE confs load.
    statistic_param: dict[str, Any] | None = None
    psi_param: dict[str, Any] | None = None
    sbt_param: dict[str, Any] | None = None
    vif_param: dict[str, Any] | None = None
    correlation_param: dict[str, Any] | None = None
    use_anonymous: StrictBool = False
    need_run: StrictBool = True

    @field_validator("filter_methods", mode="before")
    @classmethod
    def _methods(cls, v: object) -> object:
        if not isinstance(v, list):
            return v
        out = []
        for m in v:
            if not isinstance(m, str):
                raise ValueError(f"filter methods are names. Got {m!r}")
            name = m.lower()
            if name in _FATE_ONLY:
                raise ValueError(f"{m!r} is a FATE filter fedloom does not implement")
            if name not in IV_METHODS + LOCAL_METHODS:
                raise ValueError(
                    f"unknown filter method {m!r}; one of {', '.join(IV_METHODS + LOCAL_METHODS)}"
                )
            out.append(name)
        return out

    @field_validator("select_col_indexes")
    @classmethod
    def _indexes(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int) and v != -1:
            raise ValueError("must be -1 (every feature) or a list of feature positions")
        return v

    @model_validator(mode="after")
    def _iv_count(self) -> HeteroFeatureSelectionParams:
        n = self.filter_methods.count("iv_filter")
        metrics = self.iv_param.metrics
        if isinstance(metrics, list) and n and len(metrics) != n:
            raise ValueError(
                f"iv_param lists {len(metrics)} metric(s) for {n} iv_filter(s) in filter_methods"
            )
        return self

    def iv_rule(self, position: int) -> IVRule:
        """The IV rule of ``filter_methods[position]`` (an IV method)."""
        method = self.filter_methods[position]
        if method == "iv_value_thres":
            p = self.iv_value_param
            per_host = tuple(p.host_thresholds) if p.host_thresholds is not None else None
            return IVRule("threshold", p.value_threshold, per_host, not p.local_only, "average")
        if method == "iv_percentile":
            q = self.iv_percentile_param
            return IVRule("top_percentile", q.percentile_threshold, None, not q.local_only, "average")
        if method == "iv_top_k":
            t = self.iv_top_k_param
            return IVRule("top_k", float(t.k), None, not t.local_only, "average")
        i = self.filter_methods[:position].count("iv_filter")
        iv = self.iv_param
        ht = iv.host_thresholds
        hosts: tuple[float, ...] | None = None
        if ht is not None:
            row: list[Any] = ht[i] if ht and isinstance(ht[0], list) else ht
            hosts = tuple(float(x) for x in row)
        return IVRule(
            iv.at("filter_type", i),
            float(iv.at("threshold", i)),
            hosts,
            bool(iv.at("select_federated", i)),
            iv.at("mul_class_merge_type", i),
        )

    def candidates(self, header: tuple[str, ...] | list[str]) -> list[str]:
        """The candidate columns of ``header`` (see ``select_col_indexes``), in header order.

        Raises
        ------
        DataError
            A position beyond the header or a name not in it.
        """
        if self.select_col_indexes == -1:
            return list(header)
        assert isinstance(self.select_col_indexes, list)
        bad = [i for i in self.select_col_indexes if i >= len(header)]
        if bad:
            raise DataError(
                f"select_col_indexes {bad} are beyond the {len(header)} feature column(s).",
                field="select_col_indexes",
            )
        unknown = [n for n in self.select_names or () if n not in header]
        if unknown:
            raise DataError(f"select_names {unknown} are not feature columns.", field="select_names")
        chosen = {header[i] for i in self.select_col_indexes} | set(self.select_names or ())
        return [c for c in header if c in chosen]
