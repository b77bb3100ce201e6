"""``Evaluation``: metrics and plots of the predictions of one or more upstream components.

FATE's parameters (``EvaluateParam``)::

    "evaluation_0": {"eval_type": "binary", "pos_label": 1, "metrics": ["auc", "ks"]}

=============================  ===================================================================
``eval_type``                  ``binary`` (default), ``multi`` or ``regression``
``pos_label``                  the positive class of binary evaluation (default 1)
``metrics``                    which metrics (default: all of the task; FATE's spellings accepted,
                               see :data:`fedloom.ml.evaluation.REGISTRY`; FATE's ``lift`` and
                               ``gain`` are refused, not computed)
``need_run``                   FATE's switch (the runner reads it)
``unfold_multi_result``,       accepted, ignored (per-class results are always reported)
``run_clustering_arbiter_metric``
=============================  ===================================================================

Input: ``data`` from one or more components, each in FATE's prediction layout (``id, label,
predict_result, predict_score, predict_detail[, type]``). Rows are evaluated per source and per
``type`` (``train`` / ``validate`` / ``test``), each a *series* named ``{component}.{type}``. For
binary evaluation the positive-class score is read from ``predict_detail`` (so any ``pos_label``
works), else ``predict_score``.

Runs on the guest, which holds the label; hosts and the arbiter take part in the DSL (FATE's confs
give them parameters) and do nothing. Outputs on the guest:

- metrics (``metrics.json``): ``eval_type``, the scalar metrics of the first series at the top
  level (what ``fedloom run`` shows), every series in full under ``series`` (curves thinned to
  256 points), and the plot files under ``plots``;
- PNG files in the component's output folder: ``roc.png``, ``pr.png``, ``ks.png`` (binary, every
  series in each) or ``confusion.png`` (multi, the first series);
- data: one row per (series, scalar metric): ``id, component, type, metric, value``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from fedloom.components.base import Component, Inputs, Outputs, Table, data_to_pandas
from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError
from fedloom.core.roles import ARBITER, GUEST, HOST
from fedloom.dsl import ModuleSpec, register_module
from fedloom.ml.evaluation import (
    ClassLabel,
    EvalResult,
    class_name,
    evaluate_binary,
    evaluate_multi,
    evaluate_regression,
    plot_confusion,
    plot_ks,
    plot_pr,
    plot_roc,
    resolve_metrics,
)

__all__ = ["Evaluation", "EvaluationParams", "EvaluationSkip", "evaluate_frame"]

log = logging.getLogger(__name__)

#: Columns of FATE's prediction layout that evaluation reads.
PREDICTION_COLUMNS = ("label", "predict_result", "predict_score")


class EvaluationParams(BaseModel):
    """Parameters of ``Evaluation`` (FATE's ``EvaluateParam`` names; see the module docs)."""

    model_config = ConfigDict(extra="forbid")

    eval_type: Literal["binary", "multi", "regression"] = "binary"
    pos_label: int | float | str = 1
    metrics: list[str] | None = None
    unfold_multi_result: bool = False
    run_clustering_arbiter_metric: bool = False

    @field_validator("eval_type", mode="before")
    @classmethod
    def _eval_type(cls, v: object) -> object:
        if isinstance(v, str) and v.lower() == "clustering":
            raise ValueError("clustering evaluation is not supported; use binary, multi or regression")
        return v.lower() if isinstance(v, str) else v

    @field_validator("metrics")
    @classmethod
    def _computed_metrics(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        """Only metrics the registry computes (FATE's ``lift`` and ``gain`` are refused)."""
        if "eval_type" in info.data:
            try:
                resolve_metrics(info.data["eval_type"], value)
            except ConfigError as exc:
                raise ValueError(exc.message) from None
        return value


def _positive_score(df: pd.DataFrame, pos_label: ClassLabel) -> np.ndarray:
    """P(pos_label) per row: from ``predict_detail`` when it names the class, else ``predict_score``."""
    if "predict_detail" in df.columns and len(df):
        key = class_name(pos_label)
        try:
            details = [json.loads(d) if isinstance(d, str) else dict(d) for d in df["predict_detail"]]
        except (TypeError, ValueError):
            details = []
        if details and all(isinstance(d, dict) for d in details):
            named = [{class_name(k): v for k, v in d.items()} for d in details]
            if all(key in d for d in named):
                return np.asarray([float(d[key]) for d in named], dtype=np.float64)
    return df["predict_score"].to_numpy(dtype=np.float64)


def evaluate_frame(df: pd.DataFrame, params: EvaluationParams, source: str = "data") -> EvalResult:
    """Evaluate one prediction set in FATE's layout.

    Raises
    ------
    DataError
        A prediction column is missing, or a label is missing.
    """
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"{source} is not a prediction table: it lacks column(s) {missing} (evaluation reads "
            f"{', '.join(PREDICTION_COLUMNS)}; has {list(df.columns)[:8]}). Feed Evaluation the data "
            "output of a model component (e.g. hetero_lr_0.data).",
            field="input.data.data",
        )
    label = df["label"]
    if label.isna().any():
        raise DataError(
            f"{source}: {int(label.isna().sum())} of {len(df)} row(s) have no label; only labelled "
            "predictions can be evaluated (was the predict data uploaded without its label?).",
            field="label",
        )
    metrics = params.metrics
    if params.eval_type == "binary":
        return evaluate_binary(
            label.to_numpy(),
            _positive_score(df, params.pos_label),
            df["predict_result"].to_numpy(),
            pos_label=params.pos_label,
            metrics=metrics,
        )
    if params.eval_type == "multi":
        return evaluate_multi(label.to_numpy(), df["predict_result"].to_numpy(), metrics=metrics)
    return evaluate_regression(
        label.to_numpy(dtype=np.float64), df["predict_result"].to_numpy(dtype=np.float64), metrics=metrics
    )


def _series(inputs: Inputs) -> list[tuple[str, str, pd.DataFrame]]:
    """``(component, type, rows)`` for every input and ``type`` value, in input order."""
    items = inputs.data.get("data") or []
    if not items:
        raise DataError(
            "Evaluation needs predictions as input.data.data (e.g. hetero_lr_0.data)"
            + (f": {'; '.join(inputs.missing.get('data', []))}" if inputs.missing.get("data") else "."),
            field="input.data.data",
        )
    sources = inputs.sources.get("data") or [f"data_{i}" for i in range(len(items))]
    out: list[tuple[str, str, pd.DataFrame]] = []
    for source, data in zip(sources, items, strict=True):
        component = source.split(".")[0]
        df = data_to_pandas(data)
        if "type" in df.columns:
            for kind in dict.fromkeys(df["type"].astype(str)):
                out.append((component, kind, df[df["type"].astype(str) == kind].reset_index(drop=True)))
        else:
            out.append((component, "data", df))
    return out


class Evaluation(Component):
    """Guest: evaluate every input's predictions, write metrics and plots."""

    module = "Evaluation"
    params: EvaluationParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        params = self.params
        results: dict[str, EvalResult] = {}
        rows: list[dict[str, Any]] = []
        for component, kind, df in _series(inputs):
            name = f"{component}.{kind}"
            result = evaluate_frame(df, params, source=name)
            results[name] = result
            for metric, value in result.scalars().items():
                rows.append(
                    {"id": f"{name}.{metric}", "component": component, "type": kind, "metric": metric,
                     "value": None if value is None else float(value)}
                )  # fmt: skip
            log.info("%s: %s %s", self.env.component, name, result.scalars())
        plots = self._plots(results)
        first = next(iter(results.values()))
        metrics: dict[str, Any] = {"eval_type": params.eval_type, **first.scalars()}
        if len(results) > 1:
            metrics["headline"] = next(iter(results))
        metrics["series"] = {name: r.to_dict() for name, r in results.items()}
        metrics["plots"] = {k: str(v) for k, v in plots.items()}
        table = Table(pd.DataFrame(rows, columns=["id", "component", "type", "metric", "value"]), "id")
        return Outputs(data=[table], metrics=metrics)

    def _plots(self, results: dict[str, EvalResult]) -> dict[str, Path]:
        """Write the PNGs into the component's output folder (none without a job folder)."""
        env = self.env
        if env.job_dir is None:
            return {}
        out_dir = env.job_dir / "outputs" / env.component / f"{env.party.role.value}-{env.party.id}"
        written: dict[str, Path] = {}

        def legend(name: str, r: EvalResult, key: str) -> str:
            value = r.scores.get(key)
            return f"{name} ({key.upper()} {value:.4f})" if isinstance(value, float) else name

        roc = {legend(n, r, "auc"): r.curves["roc"] for n, r in results.items() if "roc" in r.curves}
        wanted = set(resolve_metrics(self.params.eval_type, self.params.metrics))
        if roc and "roc" in wanted:
            written["roc"] = plot_roc(roc, out_dir / "roc.png")
        pr = {n: r.curves["pr"] for n, r in results.items() if "pr" in r.curves}
        if pr:
            written["pr"] = plot_pr(pr, out_dir / "pr.png")
        ks = {n: r.curves["roc"] for n, r in results.items() if "roc" in r.curves}
        if ks and "ks" in wanted:
            written["ks"] = plot_ks(ks, out_dir / "ks.png")
        if self.params.eval_type == "multi":
            name, r = next(iter(results.items()))
            cm = r.scores.get("confusion_matrix")
            if cm:
                written["confusion"] = plot_confusion(
                    cm["labels"], cm["matrix"], out_dir / "confusion.png", f"confusion matrix ({name})"
                )
        return written


class EvaluationSkip(Component):
    """Host and arbiter: nothing to evaluate (only the guest holds the label)."""

    module = "Evaluation"

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        return Outputs(metrics={"note": "evaluation runs on the guest, which holds the label"})


SPEC = register_module(
    ModuleSpec(
        "Evaluation",
        roles={GUEST, HOST, ARBITER},
        params_model=EvaluationParams,
        inputs={"data"},
        outputs={"data"},
        requires_data=True,
        entry={GUEST: Evaluation, HOST: EvaluationSkip, ARBITER: EvaluationSkip},
        description="Binary, multi-class or regression metrics and plots of upstream predictions.",
    )
)
