"""Parameters of hetero feature binning: FATE 1.x ``HeteroFeatureBinningParam`` names and meaning.

Every name of FATE's ``FeatureBinningParam`` / ``HeteroFeatureBinningParam`` is accepted, so
FATE confs run unchanged; an unknown name is a :class:`~fedloom.core.errors.ConfigError` naming
the dotted field (``transform_param.transform_typ``).

fedloom extras: ``encrypt_param.method: plain`` (no encryption: debugging and measuring the cost
of cryptography only).

Differences from FATE's defaults, on purpose: ``encrypt_param.key_length`` is 2048 (FATE: 1024;
FATE's example confs set 1024 explicitly, which is accepted).
"""

from __future__ import annotations

import itertools
from typing import Annotated, ClassVar

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from fedloom.core.errors import ConfigError
from fedloom.ml.feature.optimal import OptimalBinningParams
from fedloom.ml.hetero.params_common import (
    AlgorithmParams,
    EncryptedModeCalculatorParam,
    EncryptParam,
    ParamBlock,
    any_case,
)

METHODS = ("quantile", "bucket", "optimal")
TRANSFORM_TYPES = ("bin_num", "woe")

#: ``-1`` (every column) or a list of column positions.
ColumnIndexes = StrictInt | list[StrictInt]


def _all_or_list(v: int | list[int] | None, *, none_ok: bool) -> int | list[int] | None:
    if v is None:
        if none_ok:
            return None
        raise ValueError("must be -1 or a list of column indexes")
    if isinstance(v, int):
        if v != -1:
            raise ValueError("must be -1 (every column) or a list of column indexes")
        return v
    if any(i < 0 for i in v):
        raise ValueError("column indexes are >= 0")
    return v


class TransformParam(ParamBlock):
    """``transform_param``: what the binning writes into its output data.

    Attributes
    ----------
    transform_cols
        ``-1``: every binned column; a list of column positions (of this party's features); or
        ``null``: none (then only ``transform_names``).
    transform_names
        Column names, added to ``transform_cols``.
    transform_type
        ``bin_num`` (the value becomes its bin index), ``woe`` (the value becomes its bin's WOE:
        a host gets the WOE of the columns it transforms from the guest) or ``null`` (the data
        passes unchanged).
    """

    transform_cols: ColumnIndexes | None = -1
    transform_names: list[str] | None = None
    transform_type: Annotated[str, any_case(*TRANSFORM_TYPES)] | None = "bin_num"

    @field_validator("transform_cols")
    @classmethod
    def _cols(cls, v: int | list[int] | None) -> int | list[int] | None:
        return _all_or_list(v, none_ok=True)


class HeteroFeatureBinningParams(AlgorithmParams):
    """Hetero feature binning parameters (FATE's ``HeteroFeatureBinningParam``).

    Attributes
    ----------
    method
        ``quantile`` (split points at the quantiles ``k / bin_num`` of a mergeable summary with
        relative rank error ``error``), ``bucket`` (equal width between min and max), or
        ``optimal`` (a fine ``optimal_binning_param.init_bucket_method`` binning of
        ``init_bin_nums`` bins, merged by the guest from the label counts down to ``bin_num``).
    bin_num
        Bins per column at most (ties in quantile binning give fewer).
    error, compress_thres, head_size
        The quantile summary's relative rank error, compression threshold and buffer size.
    adjustment_factor
        Added to a bin's event and non-event counts when either is zero, before the WOE.
    bin_indexes, bin_names
        Columns to bin: ``-1`` (every column) or positions, plus names; the union is binned.
    category_indexes, category_names
        Categorical columns (``-1``: every column): each value seen is its own bin. They are
        binned (and scored) too, whether or not they are in ``bin_indexes``.
    local_only
        Bin and score the guest's own columns only; nothing is sent to or received from hosts.
    skip_static
        Only split points: no counts, WOE or IV (and no exchange with the hosts). ``optimal``
        needs the counts, so it cannot skip them.
    need_run
        The component passes its data through unchanged when false.
    transform_param
        See :class:`TransformParam`.
    optimal_binning_param
        See :class:`fedloom.ml.feature.optimal.OptimalBinningParams`.
    encrypt_param
        The cipher of the labels sent to the hosts
        (:class:`~fedloom.ml.hetero.params_common.EncryptParam`).
    encrypted_mode_calculator_param
        Accepted (FATE's re-encryption modes), unused.
    split_points_by_index, split_points_by_col_name
        FATE 1.8+: given split points for some numeric columns (by position or name), used
        instead of fitting them.
    """

    algorithm: ClassVar[str] = "HeteroFeatureBinning"

    method: Annotated[str, any_case(*METHODS)] = "quantile"
    bin_num: StrictInt = Field(default=10, ge=2)
    error: float = Field(default=0.001, gt=0.0, lt=1.0)
    compress_thres: StrictInt = Field(default=10_000, ge=1)
    head_size: StrictInt = Field(default=10_000, ge=1)
    adjustment_factor: float = Field(default=0.5, gt=0.0)
    bin_indexes: ColumnIndexes = -1
    bin_names: list[str] | None = None
    category_indexes: ColumnIndexes | None = None
    category_names: list[str] | None = None
    local_only: StrictBool = False
    skip_static: StrictBool = False
    need_run: StrictBool = True
    transform_param: TransformParam = Field(default_factory=TransformParam)
    optimal_binning_param: OptimalBinningParams = Field(default_factory=OptimalBinningParams)
    encrypt_param: EncryptParam = Field(default_factory=EncryptParam)
    encrypted_mode_calculator_param: EncryptedModeCalculatorParam = Field(
        default_factory=EncryptedModeCalculatorParam
    )
    split_points_by_index: dict[str, list[float]] | None = None
    split_points_by_col_name: dict[str, list[float]] | None = None

    @field_validator("bin_indexes")
    @classmethod
    def _bin_indexes(cls, v: int | list[int]) -> int | list[int]:
        out = _all_or_list(v, none_ok=False)
        assert out is not None
        return out

    @field_validator("category_indexes")
    @classmethod
    def _category_indexes(cls, v: int | list[int] | None) -> int | list[int] | None:
        return _all_or_list(v, none_ok=True)

    @field_validator("split_points_by_index")
    @classmethod
    def _split_index(cls, v: dict[str, list[float]] | None) -> dict[str, list[float]] | None:
        if v is not None:
            for key in v:
                if not key.isdigit():
                    raise ValueError(f"keys are column positions (digits). Got {key!r}")
        return v

    @model_validator(mode="after")
    def _optimal_needs_counts(self) -> HeteroFeatureBinningParams:
        if self.method == "optimal" and self.skip_static:
            raise ValueError("method 'optimal' merges bins by their label counts: skip_static must be false")
        return self

    # -- derived -------------------------------------------------------------------------------
    def selected(self, names: tuple[str, ...]) -> list[str]:
        """The columns to bin (bin and category columns), in the data's order.

        Raises
        ------
        ConfigError
            An index out of range or an unknown name (naming ``bin_indexes`` / ``bin_names`` …).
        """
        chosen = _columns(self.bin_indexes, self.bin_names, names, "bin_indexes", "bin_names")
        chosen |= self.categorical(names)
        return [n for n in names if n in chosen]

    def categorical(self, names: tuple[str, ...]) -> set[str]:
        """The categorical columns among ``names``."""
        return _columns(
            self.category_indexes, self.category_names, names, "category_indexes", "category_names"
        )

    def transformed(self, names: tuple[str, ...]) -> list[str]:
        """The columns ``transform_param`` transforms (``-1``: every binned column), in data order."""
        tp = self.transform_param
        if tp.transform_type is None:
            return []
        binned = self.selected(names)
        cols = tp.transform_cols
        chosen = (
            set(binned)
            if cols == -1
            else _columns(
                cols, None, names, "transform_param.transform_cols", "transform_param.transform_names"
            )
        )
        chosen |= _columns(
            None,
            tp.transform_names,
            names,
            "transform_param.transform_cols",
            "transform_param.transform_names",
        )
        return [n for n in names if n in chosen]

    def given_split_points(self, names: tuple[str, ...]) -> dict[str, tuple[float, ...]]:
        """``split_points_by_index`` and ``split_points_by_col_name`` by column name."""
        out: dict[str, tuple[float, ...]] = {}
        for key, points in (self.split_points_by_index or {}).items():
            i = int(key)
            if i >= len(names):
                raise _unknown("split_points_by_index", key, len(names))
            out[names[i]] = _ascending(points, "split_points_by_index")
        for name, points in (self.split_points_by_col_name or {}).items():
            if name not in names:
                raise _unknown("split_points_by_col_name", name, len(names))
            out[name] = _ascending(points, "split_points_by_col_name")
        return out


def _unknown(field: str, what: object, n: int) -> ConfigError:
    return ConfigError(
        f"The '{field}' parameter of HeteroFeatureBinning names column {what!r}, which the data "
        f"(of {n} feature columns) does not have.",
        field=field,
    )


def _ascending(points: list[float], field: str) -> tuple[float, ...]:
    if not points or any(b <= a for a, b in itertools.pairwise(points)):
        raise ConfigError(
            f"The '{field}' parameter of HeteroFeatureBinning must give strictly ascending split "
            f"points. Got {points!r}.",
            field=field,
        )
    return tuple(float(p) for p in points)


def _columns(
    indexes: int | list[int] | None,
    col_names: list[str] | None,
    names: tuple[str, ...],
    index_field: str,
    name_field: str,
) -> set[str]:
    """Names chosen by ``-1`` / positions and by names (ConfigError on unknown ones)."""
    chosen: set[str] = set()
    if indexes == -1:
        chosen.update(names)
    elif isinstance(indexes, list):
        for i in indexes:
            if i >= len(names):
                raise _unknown(index_field, i, len(names))
            chosen.add(names[i])
    for name in col_names or ():
        if name not in names:
            raise _unknown(name_field, name, len(names))
        chosen.add(name)
    return chosen
