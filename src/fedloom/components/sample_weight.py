"""``SampleWeight``: one weight per row of the guest's data, used by the GLMs that follow.

FATE's parameter names and semantics are accepted (``SampleWeightParam``, FATE 1.11)::

    "sample_weight_0": {"class_weight": {"0": 1, "1": 2}}

=======================  ==========================================================================
``class_weight``         ``null`` (default), a dict ``{label: weight}`` (labels written as text,
                         compared as integers as FATE does; a label not listed gets weight 1), or
                         ``"balanced"``: ``n_rows / (n_classes · count(label))`` per row, as
                         scikit-learn's ``compute_class_weight("balanced")``
``sample_weight_name``   a feature column holding each row's weight; the column is taken out of
                         the features. It wins over ``class_weight`` when both are given (FATE)
``normalize``            with ``sample_weight_name``: divide the weights by their mean (so they
                         sum to the row count); ``class_weight`` weights are never normalised
``need_run``             FATE's switch (the runner reads it: ``false`` passes the data through)
=======================  ==========================================================================

With neither ``class_weight`` nor ``sample_weight_name`` the data pass through unweighted.

The weights travel with the output :class:`~fedloom.data.Frame` (``Frame.weights``) and are kept
through row selection; Hetero LR / LinR / Poisson multiply the guest's residual :math:`d` of each
row by its weight, so the gradient and the loss are the weighted Taylor ones
(:mod:`fedloom.ml.hetero.glm`).

**Federation**: none. Each party weighs its own rows and sends nothing. A host has no label, so
``class_weight`` leaves its data unweighted (FATE gives its rows weight 1); ``sample_weight_name``
on a host takes the column out of its features as on the guest, and the weights are kept with its
frame, but the hetero models use the guest's weights only. FATE's jobs set ``need_run: false``
for the host.

**Model** (``model.json``): ``{"module", "role", "party", "params", "mode", "class_weight"}`` with
the class weights actually used (``balanced`` resolved). A component given that model (predict
jobs) applies the same class weights, or reads the same weight column (normalising by the new
data's mean); weights play no part in prediction.

Importing this module registers ``SampleWeight`` with :data:`fedloom.dsl.REGISTRY`.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, StrictBool, field_validator

from fedloom.components.base import Inputs, LocalTransform, Outputs, local_transform_spec, stored_object
from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError
from fedloom.core.roles import HOST
from fedloom.data import Frame

__all__ = ["SampleWeight", "SampleWeightParams", "class_weights", "weigh"]

log = logging.getLogger(__name__)

MODULE = "SampleWeight"


def _fail(name: str, rule: str, value: object) -> ConfigError:
    return ConfigError(f"The '{name}' parameter of {MODULE} {rule}. Got {value!r}.", field=name)


class SampleWeightParams(BaseModel):
    """Parameters of ``SampleWeight`` (FATE's ``SampleWeightParam`` names; see the module docs)."""

    model_config = ConfigDict(extra="forbid")

    class_weight: dict[str, float] | Literal["balanced"] | None = None
    sample_weight_name: str | None = None
    normalize: StrictBool = False

    @field_validator("class_weight", mode="before")
    @classmethod
    def _check_class_weight(cls, v: object) -> object:
        if isinstance(v, str):
            if v.lower() != "balanced":
                raise _fail("class_weight", "must be a dict {label: weight}, 'balanced' or null", v)
            return "balanced"
        if isinstance(v, dict):
            out: dict[str, float] = {}
            for k, w in v.items():
                try:
                    label = str(int(str(k)))
                except ValueError:
                    raise _fail("class_weight", "must have integer class labels as keys", v) from None
                if isinstance(w, bool) or not isinstance(w, int | float) or not np.isfinite(w) or w < 0:
                    raise _fail("class_weight", "must map each label to a finite weight >= 0", v)
                out[label] = float(w)
            return out
        return v

    @field_validator("sample_weight_name")
    @classmethod
    def _check_name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise _fail("sample_weight_name", "must name a feature column (or be null)", v)
        return v


def class_weights(label: np.ndarray, spec: dict[str, float] | Literal["balanced"]) -> dict[str, float]:
    """The weight of each class: ``spec`` itself, or the balanced weights of ``label``."""
    if spec != "balanced":
        return dict(spec)
    classes, counts = np.unique(_int_labels(label), return_counts=True)
    n = len(label)
    return {str(int(c)): n / (len(classes) * int(k)) for c, k in zip(classes, counts, strict=True)}


def _int_labels(label: np.ndarray) -> np.ndarray:
    lab = np.asarray(label)
    if lab.dtype.kind in "iub":
        return lab.astype(np.int64)
    as_float = lab.astype(np.float64) if lab.dtype.kind == "f" else None
    if as_float is None or not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
        raise DataError(
            f"{MODULE}: class_weight needs integer class labels. Got dtype {lab.dtype}.", field="label"
        )
    return as_float.astype(np.int64)


def weigh(
    frame: Frame, params: SampleWeightParams, weights: dict[str, float] | None = None
) -> tuple[Frame, dict[str, float] | None]:
    """``frame`` with its row weights (see the module docs), and the class weights used.

    ``weights`` overrides the class weights (a stored model's).

    Raises
    ------
    DataError
        No label for ``class_weight``, a weight column that is not a feature, negative or
        non-finite weights, or a weight column whose mean is 0 with ``normalize``.
    """
    where = f"table {frame.table}: " if frame.table else ""
    if params.sample_weight_name is not None:
        name = params.sample_weight_name
        if name not in frame.feature_names:
            raise DataError(
                f"{where}no column {name!r} for sample_weight_name "
                f"(features: {list(frame.feature_names)[:10]}).",
                field="sample_weight_name",
            )
        w = np.array(frame.select_features([name]).dense_features()[:, 0], dtype=np.float64)  # (n,)
        if params.normalize:
            mean = float(w.mean()) if len(w) else 0.0
            if mean <= 0.0:
                raise DataError(
                    f"{where}the weights in {name!r} have mean {mean}: cannot normalise.", field=name
                )
            w = w / mean
        rest = frame.select_features([f for f in frame.feature_names if f != name])
        return rest.with_weights(w), None
    if params.class_weight is None:
        return frame, None
    if frame.label is None:
        raise DataError(f"{where}class_weight needs a label; this data has none.", field="class_weight")
    used = weights if weights is not None else class_weights(frame.label, params.class_weight)
    labels = _int_labels(frame.label)
    w = np.array([used.get(str(int(v)), 1.0) for v in labels.tolist()], dtype=np.float64)
    return frame.with_weights(w), used


class SampleWeight(LocalTransform):
    """Weigh the guest's rows (no messages); a host may only pass its data through."""

    module = MODULE
    params: SampleWeightParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        name = self.env.component
        data, stored = self.local_inputs(inputs)
        params, fixed = self.params, None
        if stored is not None:
            params = SampleWeightParams.model_validate(stored["params"])
            cw = stored.get("class_weight")
            if cw is not None:
                fixed = {str(k): float(v) for k, v in stored_object(cw, "class_weight").items()}  # type: ignore[arg-type]
        if self.env.party.role == HOST and params.sample_weight_name is None:
            params = params.model_copy(update={"class_weight": None})  # no label here: as FATE, weight 1
        out, used = weigh(data, params, fixed)
        mode = (
            "sample weight name"
            if params.sample_weight_name is not None
            else "class weight"
            if params.class_weight is not None
            else "none"
        )
        log.info("%s: %s, %d row(s)", name, mode, out.n_rows)
        model = self.local_model(
            params,
            mode=mode,
            class_weight=used,
        )
        metrics: dict[str, object] = {
            "mode": mode,
            "rows": out.n_rows,
            "class_weight": used,
            "weight_sum": None if out.weights is None else float(out.weights.sum()),
        }
        return Outputs(data=[out], model=model, metrics=metrics)


SPEC = local_transform_spec(
    SampleWeight,
    SampleWeightParams,
    "Row weights of the guest's data (class weights or a weight column; no messages).",
)
