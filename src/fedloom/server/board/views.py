"""The board's JSON: what its pages draw, built from the job store and the job folders.

Every function here reads; none writes. The job store gives a job's state, its tasks (component ×
party) and its parties; the job folder (:mod:`fedloom.runner.local`'s layout) gives the rest::

    status/{role}-{id}.json                 per component: rows out, seconds, bytes sent/received
    outputs/{component}/{role}-{id}/        metrics.json, model.json, *.parquet
    privacy/{role}-{id}.json                the party's privacy ledger (per channel received)
    logs/{role}-{id}.log, .stderr           the party's log
    job.json                                the result (its ``failure``: the root cause)

**DAG state.** A component's state is the worst over its parties, in the order
``failed > canceled > running > waiting > success`` (``skipped`` counts as success). A task the
store marked failed or canceled at the job's end without it ever starting is shown as
``waiting``: it never ran, and painting it red would hide the one component that did fail.

**Root cause of a failure.** When one party fails, its peers fail too, each saying only that a
peer failed (``PartyFailedError`` / ``PartyTimeoutError``). The failure shown is, in order: the
job row's error (the supervisor already picked the root cause) when it is not such an echo, else
``job.json``'s ``failure``, else the first party whose status file has a non-echo error, else the
first task with an error. Its traceback tail comes with it, or, when it has none, from the last
lines of the party's ``.stderr`` / log after its last ``Traceback``.

**Curves of a binary evaluation.** The evaluation stores the ROC curve (fpr, tpr per threshold)
and the PR curve; KS, lift and gain are derived from the ROC points with ``P`` positives of
``n`` rows: the fraction of rows predicted positive at a threshold is
``q = (tpr·P + fpr·(n − P)) / n``; the KS chart plots tpr and fpr against ``q`` (KS is the
largest gap), the gain chart tpr against ``q``, the lift chart ``tpr / q`` (the precision over
the base rate ``P / n``) against ``q``.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fedloom.server.store import JobRow, JobStore, TaskRow

__all__ = [
    "ECHO_ERRORS",
    "STATE_ORDER",
    "component_detail",
    "failure_of",
    "job_detail",
    "job_logs",
    "job_summary",
    "worst_state",
]

#: Error types a party reports when it only saw a peer fail (never the root cause).
ECHO_ERRORS = ("PartyFailedError", "PartyTimeoutError")
#: Worst first: a component's state is the first of these any of its parties is in.
STATE_ORDER = ("failed", "canceled", "running", "waiting", "success")
#: Rows of output data a component page shows.
OUTPUT_ROWS = 100
#: Bytes of each log file read (its tail).
LOG_TAIL = 1_000_000
#: Lines of traceback kept in a failure.
TRACEBACK_LINES = 15
#: Points at most per drawn curve (the browser draws them all).
MAX_POINTS = 2000

_LOG_LINE = re.compile(
    r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:[,.]\d+)?)\s+(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\s+(.*)$"
)
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}


# ------------------------------------------------------------------------------- helpers
def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


def _read_json(path: Path) -> Any:
    """The JSON at ``path``, or ``None`` when missing or unreadable (a file being replaced)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def party_key(role: str, party_id: str) -> str:
    """``host-10000``: how the job folder (and the board's URLs) name a party."""
    return f"{role}-{party_id}"


def _key_of(party: str | None) -> str | None:
    """``host:10000`` or ``host-10000`` → ``host-10000``."""
    if not party:
        return None
    return party.replace(":", "-", 1) if ":" in party else party


def worst_state(states: Iterable[str]) -> str:
    """The worst of ``states`` (see module docs); ``waiting`` for none."""
    seen = set(states)
    for s in STATE_ORDER:
        if s in seen:
            return s
    return "waiting"


def _status_files(job_dir: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    folder = job_dir / "status"
    if folder.is_dir():
        for p in sorted(folder.glob("*.json")):
            data = _read_json(p)
            if isinstance(data, dict):
                out[p.stem] = data
    return out


def _task_state(t: TaskRow, job_status: str) -> str:
    state = {"done": "success", "skipped": "success"}.get(t.status, t.status)
    if (
        state in ("failed", "canceled")
        and t.start_time is None
        and not t.error
        and job_status
        in (
            "failed",
            "canceled",
        )
    ):
        return "waiting"  # never started: the job ended before its turn (see module docs)
    return state if state in STATE_ORDER else "waiting"


# ------------------------------------------------------------------------------- jobs list
def job_summary(row: JobRow) -> dict[str, Any]:
    """One row of the jobs list."""
    end = row.end_time if row.end_time is not None else (time.time() if row.start_time else None)
    roles = {r: [str(p) for p in ids] for r, ids in (row.roles or {}).items()}
    init = row.initiator or {}
    return {
        "job_id": row.job_id,
        "status": row.status,
        "progress": round(100 * (row.progress or 0.0), 1),
        "initiator": f"{init.get('role', '')}:{init.get('party_id', '')}" if init else "",
        "roles": roles,
        "components": len((row.dsl or {}).get("components") or {}),
        "create_time": _ms(row.create_time),
        "start_time": _ms(row.start_time),
        "end_time": _ms(row.end_time),
        "elapsed": None if row.start_time is None or end is None else int((end - row.start_time) * 1000),
    }


# ------------------------------------------------------------------------------- job page
def _dag(row: JobRow) -> tuple[list[str], list[dict[str, Any]], dict[str, str]]:
    """Components in run order, the edges ``{from, to, kind, slot}`` and each one's module."""
    from fedloom.dsl.graph import Dsl

    dsl = Dsl.parse(row.dsl or {})
    try:
        order = dsl.topological_order()
    except Exception:  # a DSL the server accepted has no cycle; never fail the page on it
        order = list(dsl.components)
    edges = []
    for name, refs in dsl.refs.items():
        for r in refs:
            if not r.external and r.component in dsl.components:
                edges.append({"from": r.component, "to": name, "kind": r.kind, "slot": r.slot})
    modules = {name: dsl.module_of(name) for name in dsl.components}
    return order, edges, modules


def _layers(order: list[str], edges: list[dict[str, Any]]) -> dict[str, int]:
    """Each component's column: one more than its furthest upstream (longest path)."""
    ups: dict[str, list[str]] = {n: [] for n in order}
    for e in edges:
        ups.setdefault(e["to"], []).append(e["from"])
    layer: dict[str, int] = {}
    for n in order:
        layer[n] = 1 + max((layer.get(u, 0) for u in ups.get(n, [])), default=-1)
    return layer


def failure_of(row: JobRow, tasks: list[TaskRow] | None = None) -> dict[str, Any] | None:
    """The root cause of a failed job (see module docs), or ``None`` when it did not fail."""
    if row.status not in ("failed",) and not row.error:
        return None
    job_dir = Path(row.job_dir)
    cand: dict[str, Any] | None = None
    err = row.error if isinstance(row.error, dict) else None
    if err and err.get("type") not in ECHO_ERRORS and err.get("party"):
        cand = dict(err)
    if cand is None:
        result = _read_json(job_dir / "job.json")
        f = (result or {}).get("failure") if isinstance(result, dict) else None
        if isinstance(f, dict) and f.get("party"):
            cand = {
                "party": f.get("party"),
                "component": f.get("component"),
                "type": f.get("error_type"),
                "message": f.get("message"),
                "traceback_tail": f.get("traceback_tail"),
            }
    if cand is None:
        for key, st in _status_files(job_dir).items():
            e = st.get("error")
            if isinstance(e, dict) and e.get("type") not in ECHO_ERRORS:
                cand = {"party": st.get("party") or key, **e}
                break
    if cand is None:
        for t in tasks or []:
            if t.error and "PartyFailed" not in t.error:
                cand = {"party": f"{t.role}:{t.party_id}", "component": t.component, "message": t.error}
                break
    if cand is None:
        cand = dict(err or {"message": f"job {row.job_id} {row.status}"})
    key = _key_of(str(cand.get("party") or "")) or ""
    tb = str(cand.get("traceback_tail") or "") or _traceback_from_logs(job_dir, key)
    etype = str(cand.get("type") or "")
    message = str(cand.get("message") or "")
    reason = message if not etype or etype == "killed" else f"{etype}: {message}"
    return {
        "party": str(cand.get("party") or "").replace("-", ":", 1) if key else "",
        "party_key": key,
        "component": cand.get("component"),
        "type": etype,
        "message": message,
        "reason": reason,
        "traceback_tail": tb,
    }


def _traceback_from_logs(job_dir: Path, key: str) -> str:
    if not key:
        return ""
    for suffix in (".stderr", ".log"):
        text = _tail(job_dir / "logs" / f"{key}{suffix}")
        at = text.rfind("Traceback (most recent call last)")
        if at >= 0:
            lines = text[at:].rstrip().splitlines()
            return "\n".join(lines[-TRACEBACK_LINES:])
    return ""


def _tail(path: Path, limit: int = LOG_TAIL) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as fh:
        size = path.stat().st_size
        fh.seek(max(0, size - limit))
        return fh.read().decode("utf-8", errors="replace")


def _privacy(job_dir: Path, keys: list[str], result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per party: the ledger's one-line summary (from ``job.json``) and its totals per channel."""
    out = []
    parties = (result or {}).get("parties") or {}
    for key in keys:
        ledger = _read_json(job_dir / "privacy" / f"{key}.json")
        received = (ledger or {}).get("received") or [] if isinstance(ledger, dict) else []
        summary = (parties.get(key.replace("-", ":", 1)) or {}).get("privacy") or ""
        disclosures = sorted({str(r.get("disclosure", "")) for r in received if r.get("disclosure")})
        out.append(
            {
                "party": key,
                "summary": summary,
                "channels": len(received),
                "messages": sum(int(r.get("messages", 0) or 0) for r in received),
                "bytes": sum(int(r.get("bytes", 0) or 0) for r in received),
                "disclosures": disclosures,
                "received": received,
                "available": ledger is not None,
            }
        )
    return out


def job_detail(row: JobRow, store: JobStore) -> dict[str, Any]:
    """The job page's JSON: the job, its DAG (nodes with per-party states, edges), its tasks
    (component × party: state, times, rows in/out, traffic), privacy per party, the failure."""
    job_dir = Path(row.job_dir)
    tasks = store.tasks(row.job_id)
    status = _status_files(job_dir)
    order, edges, modules = _dag(row)
    layers = _layers(order, edges)
    data_ups: dict[str, list[str]] = {}
    for e in edges:
        if e["kind"] == "data":
            data_ups.setdefault(e["to"], []).append(e["from"])
    # rows out per (component, party), to give each task its rows in (sum over data inputs)
    rows_out: dict[tuple[str, str], int | None] = {}
    for key, st in status.items():
        for comp, c in (st.get("components") or {}).items():
            rows_out[(comp, key)] = c.get("rows") if isinstance(c.get("rows"), int) else None
    task_list = []
    per_comp: dict[str, dict[str, str]] = {n: {} for n in order}
    for t in tasks:
        key = party_key(t.role, t.party_id)
        c = ((status.get(key) or {}).get("components") or {}).get(t.component) or {}
        state = _task_state(t, row.status)
        skipped = c.get("state") == "skipped"
        per_comp.setdefault(t.component, {})[key] = state
        ins = [rows_out.get((u, key)) for u in data_ups.get(t.component, [])]
        end = t.end_time if t.end_time is not None else (time.time() if t.start_time else None)
        task_list.append(
            {
                "component": t.component,
                "module": t.module,
                "party": key,
                "role": t.role,
                "party_id": t.party_id,
                "state": state,
                "skipped": skipped,
                "note": c.get("note"),
                "progress": c.get("progress"),
                "start_time": _ms(t.start_time),
                "end_time": _ms(t.end_time),
                "seconds": c.get("seconds")
                if c.get("seconds") is not None
                else (None if t.start_time is None or end is None else round(end - t.start_time, 3)),
                "rows_in": sum(i for i in ins if isinstance(i, int))
                if any(isinstance(i, int) for i in ins)
                else None,
                "rows_out": rows_out.get((t.component, key)),
                "sent_bytes": c.get("sent_bytes"),
                "received_bytes": c.get("received_bytes"),
                "error": t.error,
            }
        )
    nodes = [
        {
            "name": n,
            "module": modules.get(n, ""),
            "state": worst_state(per_comp.get(n, {}).values()),
            "states": per_comp.get(n, {}),
            "layer": layers.get(n, 0),
        }
        for n in order
    ]
    keys = [party_key(p.role, p.party_id) for p in store.parties(row.job_id)]
    result = _read_json(job_dir / "job.json")
    return {
        "job": job_summary(row),
        "dag": {"nodes": nodes, "edges": edges},
        "tasks": task_list,
        "parties": keys,
        "privacy": _privacy(job_dir, keys, result if isinstance(result, dict) else {}),
        "failure": failure_of(row, tasks) if row.status == "failed" else None,
        "final": row.status in ("success", "failed", "canceled"),
    }


# ------------------------------------------------------------------------------- component page
def _params(row: JobRow, component: str, role: str, party_id: str) -> dict[str, Any]:
    """Parameters as run on one party (FATE's common → role → party merge, defaults filled) and
    as the conf wrote them; ``error`` when the job no longer validates (e.g. a removed table)."""
    try:
        from fedloom.components import registry
        from fedloom.core.roles import PartyId
        from fedloom.dsl import load_job

        job = load_job(row.conf, row.dsl, registry())
        index = job.party_index(PartyId.parse(f"{role}:{party_id}"))
        if not job.runs_on(component, role):
            return {"as_run": {}, "as_written": {}, "note": f"{component} does not run on {role}"}
        return {
            "as_run": job.params_for(component, role, index).model_dump(mode="json"),
            "as_written": job.parameters_for(component, role, index),
            "source": job.parameter_source(component),
        }
    except Exception as exc:  # the page still shows metrics and data of a job whose conf went stale
        return {"as_run": {}, "as_written": {}, "error": f"{type(exc).__name__}: {exc}"}


def _read_rows(folder: Path, limit: int = OUTPUT_ROWS) -> dict[str, Any] | None:
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return None
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(files[0])
    total = pf.metadata.num_rows
    batch = next(pf.iter_batches(batch_size=limit), None)
    if batch is None:
        return {"name": files[0].stem, "header": list(pf.schema_arrow.names), "rows": [], "total": 0}
    head = batch.to_pandas()
    rows = json.loads(head.to_json(orient="values", double_precision=15, default_handler=str))
    return {"name": files[0].stem, "header": [str(c) for c in head.columns], "rows": rows, "total": total}


def _thin(n: int, limit: int = MAX_POINTS) -> list[int]:
    if n <= limit:
        return list(range(n))
    step = (n - 1) / (limit - 1)
    return sorted({round(i * step) for i in range(limit)})


def _binary_charts(series: dict[str, Any]) -> dict[str, Any]:
    charts: dict[str, Any] = {}
    for kind in ("roc", "ks", "pr", "lift", "gain"):
        charts[kind] = {"series": []}
    for name, s in series.items():
        roc = s.get("roc_curve") or {}
        fpr = [_finite(v) for v in roc.get("fpr", [])]
        tpr = [_finite(v) for v in roc.get("tpr", [])]
        pts = [(f, t) for f, t in zip(fpr, tpr, strict=False) if f is not None and t is not None]
        if pts:
            pts.sort()
            charts["roc"]["series"].append({"name": name, "x": [p[0] for p in pts], "y": [p[1] for p in pts]})
            n = _finite(s.get("rows"))
            pos = _finite(s.get("positives"))
            if n and pos is not None and 0 < pos < n:
                qs = sorted(((t * pos + f * (n - pos)) / n, t, f) for f, t in pts)
                qs = [q for q in qs if q[0] > 0]
                charts["ks"]["series"].append(
                    {
                        "name": name,
                        "x": [q[0] for q in qs],
                        "y": [q[1] for q in qs],
                        "y2": [q[2] for q in qs],
                        "labels": ["tpr", "fpr"],
                        "ks": s.get("ks"),
                    }
                )
                charts["gain"]["series"].append(
                    {"name": name, "x": [q[0] for q in qs], "y": [q[1] for q in qs]}
                )
                charts["lift"]["series"].append(
                    {"name": name, "x": [q[0] for q in qs], "y": [q[1] / q[0] for q in qs]}
                )
        pr = s.get("pr_curve") or {}
        rec = [_finite(v) for v in pr.get("recall", [])]
        prec = [_finite(v) for v in pr.get("precision", [])]
        pp = sorted((r, p) for r, p in zip(rec, prec, strict=False) if r is not None and p is not None)
        if pp:
            charts["pr"]["series"].append({"name": name, "x": [p[0] for p in pp], "y": [p[1] for p in pp]})
    return {k: v for k, v in charts.items() if v["series"]}


def _confusion(series: dict[str, Any]) -> dict[str, Any] | None:
    for name, s in series.items():
        cm = s.get("confusion_matrix")
        if isinstance(cm, dict) and cm.get("matrix"):
            return {"name": name, "labels": [str(x) for x in cm.get("labels", [])], "matrix": cm["matrix"]}
    return None


def _numbers(values: Any) -> list[float | None] | None:
    if not isinstance(values, list) or not values:
        return None
    out = []
    for v in values:
        if isinstance(v, dict):  # e.g. {"iteration": 3, "loss": ...} or a per-metric dict
            num = next((_finite(x) for k, x in v.items() if k not in ("iteration", "epoch", "round")), None)
            out.append(num)
        else:
            out.append(_finite(v))
    return out if any(v is not None for v in out) else None


def _loss_chart(metrics_by_party: dict[str, dict[str, Any]], party: str) -> dict[str, Any] | None:
    """Loss per iteration (train, and validation when recorded), from this party or, when it has
    none (hetero LR keeps the loss on the arbiter), from the first party that has it."""
    order = [party] + [p for p in metrics_by_party if p != party]
    for p in order:
        m = metrics_by_party.get(p) or {}
        for key in ("loss_history", "loss", "train_loss", "losses"):
            ys = _numbers(m.get(key))
            if ys:
                series = [{"name": "train", "x": list(range(1, len(ys) + 1)), "y": ys}]
                val = _numbers(m.get("validation")) or _numbers(m.get("validation_loss"))
                if val:
                    series.append({"name": "validation", "x": list(range(1, len(val) + 1)), "y": val})
                return {"from": p, "series": series}
    return None


def _importance(m: dict[str, Any], model: dict[str, Any] | None) -> dict[str, Any] | None:
    fi = m.get("feature_importance") or (model or {}).get("feature_importance")
    if not isinstance(fi, dict) or not fi:
        return None
    flat: dict[str, float] = {}
    for k, v in fi.items():
        if isinstance(v, dict):  # {"split": {...}, "gain": {...}} or {feature: {"split": n, "gain": g}}
            if all(isinstance(x, dict) for x in v.values()):
                continue
            num = _finite(v.get("gain", v.get("split", next(iter(v.values()), None))))
        else:
            num = _finite(v)
        if num is not None:
            flat[str(k)] = num
    if not flat and all(isinstance(v, dict) for v in fi.values()):
        inner = fi.get("gain") or fi.get("split") or next(iter(fi.values()))
        flat = {str(k): x for k, v in inner.items() if (x := _finite(v)) is not None}
    if not flat:
        return None
    items = sorted(flat.items(), key=lambda kv: -kv[1])
    return {"labels": [k for k, _ in items], "values": [v for _, v in items]}


def _trees(model: dict[str, Any] | None) -> dict[str, Any] | None:
    inner = (model or {}).get("model", model) if isinstance(model, dict) else None
    trees = None
    for cand in (inner, model):
        if isinstance(cand, dict) and isinstance(cand.get("trees"), list):
            trees = cand["trees"]
            break
    if not trees:
        return None
    out = []
    for t in trees[:200]:
        nodes = t.get("nodes") if isinstance(t, dict) else None
        if isinstance(nodes, list):
            out.append(
                {
                    "class_index": t.get("class_index"),
                    "nodes": [
                        {
                            k: n.get(k)
                            for k in (
                                "id",
                                "depth",
                                "is_leaf",
                                "weight",
                                "owner",
                                "feature",
                                "threshold",
                                "left",
                                "right",
                                "gain",
                                "missing_left",
                            )
                        }
                        for n in nodes
                        if isinstance(n, dict)
                    ],
                }
            )
    return {"trees": out, "total": len(trees)} if out else None


def _residuals(row: JobRow, component: str, key: str) -> dict[str, Any] | None:
    """(prediction, label − prediction) of the regression data this evaluation read."""
    from fedloom.dsl.graph import Dsl

    try:
        dsl = Dsl.parse(row.dsl or {})
    except Exception:
        return None
    for r in dsl.refs.get(component, []):
        if r.kind != "data" or r.external:
            continue
        folder = Path(row.job_dir) / "outputs" / r.component / key
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        if not files:
            continue
        import pyarrow.parquet as pq

        cols = pq.ParquetFile(files[0]).schema_arrow.names
        if "label" not in cols or "predict_result" not in cols:
            continue
        df = pq.read_table(files[0], columns=["label", "predict_result"]).to_pandas()
        df = df.apply(lambda c: c.astype(float, errors="ignore")).dropna()
        idx = _thin(len(df))
        sub = df.iloc[idx].sort_values("predict_result")
        return {
            "x": [float(v) for v in sub["predict_result"]],
            "y": [float(a - b) for a, b in zip(sub["label"], sub["predict_result"], strict=False)],
            "points": len(df),
        }
    return None


def _model_summary(model: Any) -> dict[str, Any] | None:
    """The model's top level without its bulky parts (lists and maps over ~50 items shortened)."""
    if not isinstance(model, dict):
        return None

    def shorten(v: Any, depth: int = 0) -> Any:
        if isinstance(v, dict):
            if depth > 2 or len(v) > 50:
                return f"{{… {len(v)} entries}}"
            return {str(k): shorten(x, depth + 1) for k, x in v.items()}
        if isinstance(v, list):
            if depth > 2 or len(v) > 50:
                return f"[… {len(v)} items]"
            return [shorten(x, depth + 1) for x in v]
        return v

    return {str(k): shorten(v) for k, v in model.items()}


def component_detail(row: JobRow, store: JobStore, component: str, party: str) -> dict[str, Any]:
    """The component page's JSON for one party: parameters as run, metrics, chart series, the
    first output rows and the model summary; ``party`` is ``role-id``."""
    job_dir = Path(row.job_dir)
    tasks = [t for t in store.tasks(row.job_id) if t.component == component]
    keys = [party_key(t.role, t.party_id) for t in tasks]
    role, _, pid = party.partition("-")
    base = job_dir / "outputs" / component
    metrics_by_party: dict[str, dict[str, Any]] = {}
    for k in keys:
        m = _read_json(base / k / "metrics.json")
        if isinstance(m, dict):
            metrics_by_party[k] = m
    metrics = metrics_by_party.get(party) or {}
    model = _read_json(base / party / "model.json")
    module = tasks[0].module if tasks else ""
    task = next((t for t in tasks if party_key(t.role, t.party_id) == party), None)
    charts: dict[str, Any] = {}
    raw_series = metrics.get("series")
    series: dict[str, Any] = raw_series if isinstance(raw_series, dict) else {}
    eval_type = str(metrics.get("eval_type") or "")
    if eval_type == "binary":
        charts.update(_binary_charts(series))
    if eval_type == "multi" or (eval_type and eval_type != "binary" and _confusion(series)):
        cm = _confusion(series)
        if cm:
            charts["confusion"] = cm
    if eval_type == "regression":
        res = _residuals(row, component, party)
        if res:
            charts["residuals"] = res
    loss = _loss_chart(metrics_by_party, party) if not eval_type else None
    if loss:
        charts["loss"] = loss
    iv = metrics.get("iv")
    if isinstance(iv, dict) and iv:
        vals = {
            str(k): _finite(v if not isinstance(v, dict) else sum(x for x in v.values() if _finite(x)))
            for k, v in iv.items()
        }
        items = sorted(((k, v) for k, v in vals.items() if v is not None), key=lambda kv: -kv[1])
        charts["woe_iv"] = {"labels": [k for k, _ in items], "values": [v for _, v in items]}
    imp = _importance(metrics, model if isinstance(model, dict) else None)
    if imp:
        charts["importance"] = imp
    trees = _trees(model if isinstance(model, dict) else None)
    if trees:
        charts["tree"] = trees
    scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None}
    return {
        "job_id": row.job_id,
        "component": component,
        "module": module,
        "party": party,
        "parties": keys,
        "state": _task_state(task, row.status) if task else None,
        "error": task.error if task else None,
        "params": _params(row, component, role, pid),
        "metrics": metrics,
        "scalars": scalars,
        "charts": charts,
        "output": _read_rows(base / party),
        "model_summary": _model_summary(model),
    }


# ------------------------------------------------------------------------------- logs
def _parse_log(text: str, party: str, source: str) -> list[dict[str, Any]]:
    """Log records: a line in the log format starts one; other lines (tracebacks) continue it."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _LOG_LINE.match(line)
        if m:
            level = "WARNING" if m.group(2) == "WARN" else m.group(2)
            out.append(
                {"party": party, "time": m.group(1), "level": level, "text": m.group(3), "source": source}
            )
        elif out:
            out.append({**out[-1], "text": line, "cont": True})
        else:  # stderr before any record (a crash of the interpreter itself): an error
            out.append(
                {
                    "party": party,
                    "time": "",
                    "level": "ERROR" if source == "stderr" else "INFO",
                    "text": line,
                    "source": source,
                }
            )
    return out


def job_logs(row: JobRow, store: JobStore, min_level: str = "DEBUG") -> dict[str, Any]:
    """Every party's log records (log and stderr), interleaved by time; ``failure_at`` is the index
    of the failing party's first ERROR record (where the page opens)."""
    job_dir = Path(row.job_dir)
    keys = [party_key(p.role, p.party_id) for p in store.parties(row.job_id)]
    records: list[dict[str, Any]] = []
    for key in keys:
        logged = _parse_log(_tail(job_dir / "logs" / f"{key}.log"), key, "log")
        # A party writes its records to both files; stderr adds only what is not a record of the log
        # (an interpreter crash, a traceback printed before logging started).
        seen = {(r["time"], r["text"]) for r in logged}
        stderr = _parse_log(_tail(job_dir / "logs" / f"{key}.stderr"), key, "stderr")
        records.extend(logged)
        records.extend(r for r in stderr if (r["time"], r["text"]) not in seen)
    floor = _LEVELS.get(min_level.upper(), 0)
    records = [r for r in records if _LEVELS.get(r["level"], 20) >= floor]
    # stable sort by time: a record without a time stays after the one it continues
    last = ""
    for r in records:
        last = r["time"] or last
        r["sort"] = last
    records.sort(key=lambda r: r["sort"])
    for r in records:
        del r["sort"]
    failure = failure_of(row) if row.status == "failed" else None
    at = None
    if failure and failure.get("party_key"):
        fk = failure["party_key"]
        at = next(
            (i for i, r in enumerate(records) if r["party"] == fk and r["level"] in ("ERROR", "CRITICAL")),
            None,
        )
        if at is None:
            at = max((i for i, r in enumerate(records) if r["party"] == fk), default=None)
    return {"job_id": row.job_id, "parties": keys, "lines": records, "failure": failure, "failure_at": at}
