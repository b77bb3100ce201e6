"""Hetero SecureBoost against a centralised histogram GBDT written here, independently, in numpy.

The reference joins the guest's and the hosts' columns (guest first, then each host in order),
bins them with the split points the parties stored (``searchsorted``; NaN → the missing bin),
and grows each tree level by level with XGBoost's rule:

* node splits when depth < max_depth and rows >= min_sample_split;
* candidates per feature in value order (module :mod:`fedloom.ml.hetero.secureboost.candidates`
  documents the enumeration: thresholds over value bins, missing right, then with
  ``use_missing`` missing left; without it the missing bin is ordered last);
* gain ``S(L) + S(R) − S(P)``, ``S = Σ_k soft(G_k, l1)² / (H_k + l2)``; children need
  ``min_leaf_node`` rows and ``min_child_weight`` hessian; the best gain must exceed
  ``min_impurity_split``; ties: the first candidate in that order;
* leaves ``learning_rate · −soft(g_sum, l1) / (h_sum + l2)``.

Gradients and hessians are written out here (sigmoid, softmax with FATE's ``2p(1−p)``, squared
error ``2(s − y)``, ``2``). The data keep ties between different partitions improbable
(continuous features, ``min_leaf_node`` of a few rows), so the split choice is exact; leaves
agree to 1e-9 (the federated sums are fixed-point sums accurate to ~1e-15 relative).
"""

from __future__ import annotations

import numpy as np
import pytest

from fedloom.core.roles import PartyId
from fedloom.data.frame import Frame
from fedloom.ml.hetero.secureboost import HeteroSecureBoostGuest, HeteroSecureBoostHost
from fedloom.ml.tree import goss_sample
from fedloom.testing import run_parties

GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")
HOST2 = PartyId.parse("host:10001")
PLAIN = {"method": "plain", "key_length": 1024}
PAILLIER = {"method": "paillier", "key_length": 1024}


# -- reference ---------------------------------------------------------------------------------------
def ref_bins(bins: dict, x: np.ndarray) -> tuple[np.ndarray, int, bool]:
    sp = np.asarray(bins["split_points"], dtype=np.float64)
    out = np.empty(len(x), dtype=np.int64)
    nan = np.isnan(x)
    out[~nan] = np.minimum(np.searchsorted(sp, x[~nan], side="left"), len(sp) - 1)
    out[nan] = len(sp)
    return out, len(sp), bool(bins["has_missing"])


def soft(g: np.ndarray, l1: float) -> np.ndarray:
    return np.sign(g) * np.maximum(np.abs(g) - l1, 0.0)


def node_score(g: np.ndarray, h: np.ndarray, l1: float, l2: float) -> float:
    return float(np.sum(soft(g, l1) ** 2 / (h + l2)))


def ref_candidates(col: np.ndarray, k: int, missing: bool, use_missing: bool):
    """(bin, missing_left, left mask) in the documented order."""
    out = []
    if missing and use_missing:
        for b in range(k):
            out.append((b, False, col <= b))
        for b in range(k - 1):
            out.append((b, True, (col <= b) | (col == k)))
    else:
        n_ordered = k + int(missing)
        for b in range(n_ordered - 1):
            out.append((b, False, col <= b))
    return out


def ref_tree(xb, meta, g, h, rows, cfg):
    """Nodes: dicts with feature, bin, missing_left, weight; ids in level order."""
    l1, l2 = cfg["l1"], cfg["l2"]
    nodes = [{"rows": rows, "depth": 0}]
    level = [0]
    while level:
        nxt = []
        for nid in level:
            nd = nodes[nid]
            idx = nd["rows"]
            g_sum, h_sum, n = g[idx].sum(0), h[idx].sum(0), len(idx)
            nd["G"], nd["H"] = g_sum, h_sum
            best = None
            if nd["depth"] < cfg["max_depth"] and n >= cfg["min_sample_split"]:
                parent = node_score(g_sum, h_sum, l1, l2)
                for f in range(xb.shape[1]):
                    k, missing = meta[f]
                    for b, ml, mask in ref_candidates(xb[idx, f], k, missing, cfg["use_missing"]):
                        nl = int(mask.sum())
                        if nl < max(1, cfg["min_leaf_node"]) or n - nl < max(1, cfg["min_leaf_node"]):
                            continue
                        g_left, h_left = g[idx[mask]].sum(0), h[idx[mask]].sum(0)
                        if (
                            h_left.sum() < cfg["min_child_weight"]
                            or (h_sum - h_left).sum() < cfg["min_child_weight"]
                        ):
                            continue
                        gain = (
                            node_score(g_left, h_left, l1, l2)
                            + node_score(g_sum - g_left, h_sum - h_left, l1, l2)
                            - parent
                        )
                        if best is None or gain > best[0]:
                            best = (gain, f, b, ml, mask)
            if best is not None and best[0] > cfg["min_impurity_split"]:
                _, f, b, ml, mask = best
                nd.update(feature=f, bin=b, missing_left=ml, left=len(nodes), right=len(nodes) + 1)
                nodes.append({"rows": idx[mask], "depth": nd["depth"] + 1})
                nodes.append({"rows": idx[~mask], "depth": nd["depth"] + 1})
                nxt += [nd["left"], nd["right"]]
            else:
                nd["weight"] = cfg["lr"] * (-soft(g_sum, l1) / (h_sum + l2))
        level = nxt
    return nodes


def ref_leaves(nodes, xb, meta):
    leaf = np.zeros(xb.shape[0], dtype=np.int64)
    for i in range(xb.shape[0]):
        nid = 0
        while "weight" not in nodes[nid]:
            nd = nodes[nid]
            v = xb[i, nd["feature"]]
            k = meta[nd["feature"]][0]
            left = nd["missing_left"] if v >= k else v <= nd["bin"]
            nid = nd["left"] if left else nd["right"]
        leaf[i] = nid
    return leaf


def grad_hess(task: str, y: np.ndarray, s: np.ndarray, k_out: int):
    if task == "binary":
        p = 1 / (1 + np.exp(-s))
        return p - y[:, None], p * (1 - p)
    if task == "multi":
        e = np.exp(s - s.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        onehot = np.eye(k_out)[y.astype(int)]
        return p - onehot, 2 * p * (1 - p)
    return 2 * (s - y[:, None]), np.full_like(s, 2.0)


def reference(xb, meta, y, task, k_out, cfg, multi_output=False, goss=None):
    s = np.tile(np.zeros(k_out) if task != "regression" else np.array([y.mean()]), (len(y), 1))
    trees = []
    t_index = 0
    for _ in range(cfg["num_trees"]):
        g_all, h_all = grad_hess(task, y, s, k_out)
        groups = [[k] for k in range(k_out)] if (k_out > 1 and not multi_output) else [list(range(k_out))]
        for cols in groups:
            g, h = g_all[:, cols], h_all[:, cols]
            rows = np.arange(len(y))
            if goss is not None:
                rows, mult = goss_sample(g, goss[0], goss[1], np.random.default_rng([100, t_index]))
                g = g.copy()
                h = h.copy()
                g[rows] *= mult[:, None]
                h[rows] *= mult[:, None]
            nodes = ref_tree(xb, meta, g, h, rows, cfg)
            trees.append((nodes, cols))
            leaf = ref_leaves(nodes, xb, meta)
            w = np.stack([nodes[i]["weight"] for i in leaf])
            s[:, cols] += w
            t_index += 1
    return trees, s


# -- data and federated run -------------------------------------------------------------------------------
def make_data(n: int, task: str, n_hosts: int = 1, missing: bool = False, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [f"id{i}" for i in range(n)]
    xg = rng.normal(size=(n, 3))
    xh = [rng.normal(size=(n, 4)) for _ in range(n_hosts)]
    z = xg[:, 0] + 0.8 * xh[0][:, 1] - 0.5 * xh[-1][:, 2] + 0.3 * rng.normal(size=n)
    if task == "binary":
        y = (z > 0).astype(int)
    elif task == "multi":
        y = np.digitize(z, [-0.6, 0.6])
    else:
        y = 3.0 * z + 1.0
    if missing:
        xg[rng.random(n) < 0.15, 1] = np.nan
        xh[0][rng.random(n) < 0.2, 1] = np.nan
    guest = Frame(ids, xg, ["g0", "g1", "g2"], label=y)
    hosts = [Frame(ids, x, [f"h{j}_{i}" for i in range(4)]) for j, x in enumerate(xh)]
    return guest, hosts


def fit(params: dict, guest: Frame, hosts: list[Frame], host_ids=(HOST, HOST2)):
    fns = {
        GUEST: lambda ctx: (lambda m: (m, HeteroSecureBoostGuest(params).predict(ctx.sub("p"), m, guest)))(
            HeteroSecureBoostGuest(params).fit(ctx, guest)
        )
    }
    for pid, frame in zip(host_ids, hosts, strict=False):
        fns[pid] = (
            lambda f: (
                lambda ctx: (lambda m: (m, HeteroSecureBoostHost(params).predict(ctx.sub("p"), m, f)))(
                    HeteroSecureBoostHost(params).fit(ctx, f)
                )
            )
        )(frame)
    return run_parties(fns, timeout=120)


def joined(out, guest: Frame, hosts: list[Frame], host_ids=(HOST, HOST2), zeros_missing: bool = False):
    gm = out[GUEST][0]
    cols, meta, owners = [], [], []

    def values(frame: Frame) -> np.ndarray:
        x = np.array(frame.dense_features(), dtype=float)
        if zeros_missing:
            x[x == 0.0] = np.nan
        return x.T

    for name, x in zip(gm.bins, values(guest), strict=True):
        b, k, miss = ref_bins(gm.bins[name].to_dict(), x)
        cols.append(b)
        meta.append((k, miss))
        owners.append(("guest", len(owners)))
    for pid, frame in zip(host_ids, hosts, strict=False):
        hm = out[pid][0]
        for j, (name, x) in enumerate(zip(hm.bins, values(frame), strict=True)):
            b, k, miss = ref_bins(hm.bins[name].to_dict(), x)
            cols.append(b)
            meta.append((k, miss))
            owners.append((f"host-{pid.id}", j))
    return np.stack(cols, axis=1), meta, owners


def assert_same_trees(out, ref_trees, owners, host_ids=(HOST, HOST2)):
    gm = out[GUEST][0]
    assert len(gm.trees) == len(ref_trees)
    for t, (tree, (nodes, _)) in enumerate(zip(gm.trees, ref_trees, strict=True)):
        assert len(tree.nodes) == len(nodes), f"tree {t}"
        for nd, rn in zip(tree.nodes, nodes, strict=True):
            assert nd.is_leaf == ("weight" in rn), f"tree {t} node {nd.id}"
            if nd.is_leaf:
                np.testing.assert_allclose(nd.weight, rn["weight"], rtol=0, atol=1e-9)
                continue
            owner, local = owners[rn["feature"]]
            assert nd.owner == owner, f"tree {t} node {nd.id}"
            if owner == "guest":
                assert (nd.feature, nd.bin, nd.missing_left) == (local, rn["bin"], rn["missing_left"])
                continue
            assert nd.feature is None and nd.threshold is None and nd.bin is None  # the guest never sees them
            pid = next(p for p in host_ids if f"host-{p.id}" == owner)
            hn = {x.id: x for x in out[pid][0].trees[t].nodes}[nd.id]
            assert (hn.feature, hn.bin, hn.missing_left) == (local, rn["bin"], rn["missing_left"])


CFG = {
    "l1": 0.0,
    "l2": 0.1,
    "max_depth": 3,
    "min_sample_split": 10,
    "min_leaf_node": 3,
    "min_child_weight": 0.0,
    "min_impurity_split": 1e-3,
    "lr": 0.3,
    "num_trees": 3,
    "use_missing": False,
}


def params_for(task: str, cipher: dict, **extra) -> dict:
    p = {
        "task_type": "regression" if task == "regression" else "classification",
        "objective_param": {"objective": "lse" if task == "regression" else "cross_entropy"},
        "num_trees": CFG["num_trees"],
        "learning_rate": CFG["lr"],
        "bin_num": 8,
        "n_iter_no_change": False,
        "encrypt_param": cipher,
        "tree_param": {"max_depth": 3, "min_sample_split": 10, "min_leaf_node": 3, "criterion_params": [0.1]},
    }
    p.update(extra)
    return p


@pytest.mark.parametrize(
    ("task", "extra", "cfg"),
    [
        ("binary", {}, {}),
        ("regression", {}, {}),
        ("multi", {"multi_mode": "SingleOutput"}, {}),
        ("multi", {"multi_mode": "MultiOutput"}, {}),
        (
            "binary",
            {
                "tree_param": {
                    "max_depth": 3,
                    "min_sample_split": 10,
                    "min_leaf_node": 3,
                    "criterion_params": [0.5, 0.2],
                    "min_child_weight": 0.5,
                }
            },
            {"l2": 0.5, "l1": 0.2, "min_child_weight": 0.5},
        ),
    ],
    ids=["binary", "regression", "multi-single", "multi-output", "l1-l2-child-weight"],
)
def test_trees_equal_central_reference_plain(task: str, extra: dict, cfg: dict) -> None:
    # Prepare
    guest, hosts = make_data(400, task)
    params = params_for(task, PLAIN, **extra)
    # Execute
    out = fit(params, guest, hosts)
    # Assert: same trees as the central reference, and the same scores
    xb, meta, owners = joined(out, guest, hosts)
    k_out = 3 if task == "multi" else 1
    y = np.asarray(guest.label, dtype=np.float64)
    ref_trees, s = reference(
        xb, meta, y, task, k_out, {**CFG, **cfg}, multi_output=extra.get("multi_mode") == "MultiOutput"
    )
    assert_same_trees(out, ref_trees, owners)
    pred = out[GUEST][1]
    if task == "binary":
        np.testing.assert_allclose(pred.score, 1 / (1 + np.exp(-s[:, 0])), rtol=0, atol=1e-9)
    elif task == "multi":
        e = np.exp(s - s.max(1, keepdims=True))
        np.testing.assert_allclose(pred.score, e / e.sum(1, keepdims=True), rtol=0, atol=1e-9)
    else:
        np.testing.assert_allclose(pred.score, s[:, 0], rtol=0, atol=1e-8)
    assert out[HOST][1] is None  # hosts output no predictions


def test_missing_values_goss_and_two_hosts_equal_reference() -> None:
    # Prepare: NaN in a guest and a host column, use_missing, GOSS, two hosts
    guest, hosts = make_data(500, "binary", n_hosts=2, missing=True, seed=3)
    params = params_for("binary", PLAIN, use_missing=True, run_goss=True, top_rate=0.3, other_rate=0.3)
    # Execute
    out = fit(params, guest, hosts)
    # Assert
    xb, meta, owners = joined(out, guest, hosts)
    ref_trees, s = reference(
        xb, meta, np.asarray(guest.label, float), "binary", 1, {**CFG, "use_missing": True}, goss=(0.3, 0.3)
    )
    assert_same_trees(out, ref_trees, owners)
    assert any(
        nd["missing_left"] for t in ref_trees for nd in t[0] if "bin" in nd
    )  # the missing side mattered
    np.testing.assert_allclose(out[GUEST][1].score, 1 / (1 + np.exp(-s[:, 0])), rtol=0, atol=1e-9)


def test_paillier_binary_equals_reference() -> None:
    # Prepare
    guest, hosts = make_data(200, "binary", seed=5)
    params = params_for("binary", PAILLIER, num_trees=2)
    # Execute
    out = fit(params, guest, hosts)
    # Assert
    xb, meta, owners = joined(out, guest, hosts)
    ref_trees, s = reference(xb, meta, np.asarray(guest.label, float), "binary", 1, {**CFG, "num_trees": 2})
    assert_same_trees(out, ref_trees, owners)
    assert out[GUEST][0].work["decryptions"] > 0
    np.testing.assert_allclose(out[GUEST][1].score, 1 / (1 + np.exp(-s[:, 0])), rtol=0, atol=1e-9)


def test_zero_as_missing_equals_reference() -> None:
    # Prepare: a third of a guest and a host column are exact zeros, treated as missing
    guest, hosts = make_data(400, "binary", seed=7)
    rng = np.random.default_rng(8)
    xg, xh = guest.dense_features().copy(), hosts[0].dense_features().copy()
    xg[rng.random(400) < 0.3, 0] = 0.0
    xh[rng.random(400) < 0.3, 1] = 0.0
    guest = Frame(guest.ids, xg, list(guest.feature_names), label=guest.label)
    hosts = [Frame(hosts[0].ids, xh, list(hosts[0].feature_names))]
    params = params_for("binary", PLAIN, use_missing=True, zero_as_missing=True)
    # Execute
    out = fit(params, guest, hosts)
    # Assert
    xb, meta, owners = joined(out, guest, hosts, zeros_missing=True)
    assert meta[0][1] and meta[3 + 1][1]  # both columns got a missing bin
    ref_trees, s = reference(
        xb, meta, np.asarray(guest.label, float), "binary", 1, {**CFG, "use_missing": True}
    )
    assert_same_trees(out, ref_trees, owners)
    np.testing.assert_allclose(out[GUEST][1].score, 1 / (1 + np.exp(-s[:, 0])), rtol=0, atol=1e-9)
