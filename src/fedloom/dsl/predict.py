"""Derive a predict DSL (and a predict conf) from a training job: FATE's *deploy* semantics.

For the components chosen for deployment, in run order:

- a component that output models now *loads* them: ``input.model`` becomes
  ``["pipeline.<name>.<model output>"]`` and the model outputs are dropped;
- its data inputs are renamed ``train_data``/``validate_data``/``test_data`` -> ``test_data``
  and ``data`` -> ``data``; only the first of these slots present is kept (FATE's rule: a learner
  trained with ``train_data`` + ``validate_data`` predicts on what fed ``train_data``);
- a data input from a component that is not deployed is replaced by what fed that component
  (an ``Evaluation`` or a ``FeatureScale`` left out is bypassed), recursively;
- ``isometric_model`` inputs are dropped (the deployed model already holds what they gave);
- inputs from components outside the predict DSL are erased.

``Reader`` components feeding a deployed component are kept (``keep_readers``) so the result runs
as it is with a conf naming the tables; FATE leaves them out and the user adds readers by hand.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fedloom.core.errors import ConfigError
from fedloom.dsl.conf import load_json
from fedloom.dsl.graph import PIPELINE, Dsl

__all__ = ["derive_predict_conf", "derive_predict_dsl", "fate_model_id"]

READER = "Reader"
#: Train slot -> predict slot, in FATE's order of preference.
_PREDICT_SLOTS = (
    ("data", "data"),
    ("train_data", "test_data"),
    ("validate_data", "test_data"),
    ("test_data", "test_data"),
)


def derive_predict_dsl(
    train_dsl: Mapping[str, Any] | str | Path | Dsl,
    deploy: Iterable[str] | None = None,
    *,
    keep_readers: bool = True,
    exclude_modules: Iterable[str] = ("Evaluation",),
) -> dict[str, Any]:
    """The predict DSL of a training DSL.

    Parameters
    ----------
    train_dsl
        The training DSL (dict, JSON path or parsed :class:`Dsl`).
    deploy
        Components to deploy; default: every component whose module is not in
        ``exclude_modules``.
    keep_readers
        Also keep the ``Reader`` components that feed a deployed component.
    exclude_modules
        Modules left out when ``deploy`` is not given (evaluation has nothing to deploy).

    Returns
    -------
    dict
        ``{"components": {...}}`` in FATE's JSON form.

    Raises
    ------
    ConfigError
        A deployed name is not a component of the DSL, or the DSL itself is invalid.
    """
    dsl = train_dsl if isinstance(train_dsl, Dsl) else Dsl.parse(load_json(train_dsl, "dsl"))
    order = dsl.topological_order()
    modules = {n: c.module for n, c in dsl.components.items()}
    if deploy is None:
        excluded = set(exclude_modules)
        chosen = {n for n in order if modules[n] not in excluded}
    else:
        chosen = set(deploy)
        for name in sorted(chosen - set(dsl.components)):
            raise ConfigError(
                f"cannot deploy {name!r}: it is not a component of the training dsl.",
                component=name,
                field="deploy",
            )
    if keep_readers:
        for name in list(chosen):
            for ref in dsl.refs[name]:
                if ref.kind == "data" and modules.get(ref.component) == READER:
                    chosen.add(ref.component)

    out: dict[str, dict[str, Any]] = {}
    passthrough: dict[str, dict[str, list[str]]] = {}
    for name in order:
        if name in chosen:
            out[name] = _predict_component(name, dsl, chosen, passthrough, modules, out)
        else:
            passthrough[name] = _passthrough(name, dsl, chosen, passthrough, modules)
    return {"components": out}


def _predict_component(
    name: str,
    dsl: Dsl,
    chosen: set[str],
    passthrough: dict[str, dict[str, list[str]]],
    modules: dict[str, str],
    done: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The predict-DSL body of deployed component ``name``: its trained model as input, data from
    the deployed components before it (``done``), through any left out."""
    comp = dsl.components[name]
    body: dict[str, Any] = {"module": comp.module}
    inputs: dict[str, Any] = {}
    if comp.output.model:
        inputs["model"] = [f"{PIPELINE}.{name}.{m}" for m in comp.output.model]
    outputs = {k: list(v) for k, v in (("data", comp.output.data), ("cache", comp.output.cache)) if v}
    if outputs:
        body["output"] = outputs
    data_in: dict[str, list[str]] = {}
    for train_slot, predict_slot in _PREDICT_SLOTS:
        if train_slot not in comp.input.data:
            continue
        refs: list[str] = []
        for text in comp.input.data[train_slot]:
            up, suffix = text.split(".")
            if up in chosen or modules.get(up) == READER:
                refs.append(text)
            else:
                refs.extend(passthrough.get(up, {}).get(suffix, []))
        kept = [r for r in refs if r.split(".")[0] in done]
        if kept:
            data_in[predict_slot] = kept
        break
    if data_in:
        inputs["data"] = data_in
    cache = [c for c in comp.input.cache if c.split(".")[0] in done]
    if cache:
        inputs["cache"] = cache
    if inputs:
        body["input"] = {k: inputs[k] for k in ("data", "model", "cache") if k in inputs}
    if comp.provider is not None:
        body["provider"] = comp.provider
    return body


def _passthrough(
    name: str, dsl: Dsl, chosen: set[str], known: dict[str, dict[str, list[str]]], modules: dict[str, str]
) -> dict[str, list[str]]:
    """What a left-out component's data outputs stand for: the data that fed it."""
    comp = dsl.components[name]
    if not comp.input.data or not comp.output.data:
        return {}
    up_text = None
    for slot in ("train_data", "eval_data", "test_data", "data"):
        if comp.input.data.get(slot):
            up_text = comp.input.data[slot][0]
            break
    if up_text is None:
        return {}
    up, suffix = up_text.split(".")
    if up in chosen or modules.get(up) == READER:
        target = [up_text]
    else:
        target = list(known.get(up, {}).get(suffix, []))
    return {o: list(target) for o in comp.output.data}


def fate_model_id(roles: Mapping[str, Iterable[object]]) -> str:
    """FATE's model id of a job with these ``role`` entries, built as FATE-Flow builds it: roles
    sorted by name, each role's distinct party ids sorted (as numbers when they are numbers) and
    joined with ``_``, then ``#model``: ``arbiter-10000#guest-9999#host-9999_10000#model``."""

    def key(pid: str) -> tuple[int, int, str]:
        return (0, int(pid), "") if pid.isdigit() else (1, 0, pid)

    named = {str(getattr(r, "value", r)): ids for r, ids in roles.items()}  # Role or its name
    parts = []
    for role in sorted(named):
        distinct = sorted({str(i) for i in named[role]}, key=key)
        if distinct:
            parts.append(f"{role}-{'_'.join(distinct)}")
    return "#".join([*parts, "model"])


def derive_predict_conf(
    train_conf: Mapping[str, Any] | str | Path,
    predict_dsl: Mapping[str, Any],
    model_id: str = "",
    model_version: str = "",
) -> dict[str, Any]:
    """A predict conf for ``predict_dsl`` from the training conf (FATE's template, filled in).

    Roles, initiator and job parameters are copied, with ``job_type: predict`` and the model id and
    version set (with a ``model_version`` and no ``model_id``, the id is FATE's, :func:`fate_model_id`).
    Component parameters keep only the ``Reader`` entries of the predict DSL, with the
    training tables (edit them to predict on other data); the deployed components take their
    parameters from the model.
    """
    conf = copy.deepcopy(load_json(train_conf, "conf"))
    readers = {n for n, c in predict_dsl.get("components", {}).items() if c.get("module") == READER}
    job_params = conf.get("job_parameters") or {}
    common = dict(job_params.get("common") or {})
    if model_version and not model_id:
        model_id = fate_model_id(conf.get("role") or {})
    common.update({"job_type": "predict", "model_id": model_id, "model_version": model_version})
    out: dict[str, Any] = {
        "dsl_version": 2,
        "initiator": conf.get("initiator"),
        "role": conf.get("role"),
        "job_parameters": {
            "common": common,
            **({"role": job_params["role"]} if job_params.get("role") else {}),
        },
    }
    cp = conf.get("component_parameters") or {}
    new_cp: dict[str, Any] = {}
    common_cp = {n: v for n, v in (cp.get("common") or {}).items() if n in readers}
    if common_cp:
        new_cp["common"] = common_cp
    role_cp: dict[str, Any] = {}
    for role, section in (cp.get("role") or {}).items():
        for key, layer in section.items():
            kept = {n: v for n, v in layer.items() if n in readers}
            if kept:
                role_cp.setdefault(role, {})[key] = kept
    if role_cp:
        new_cp["role"] = role_cp
    if new_cp:
        out["component_parameters"] = new_cp
    return out
