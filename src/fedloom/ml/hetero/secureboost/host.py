"""A host's side of Hetero SecureBoost: encrypted histograms, anonymous candidates, its own nodes.

:meth:`HeteroSecureBoostHost.fit` answers the guest's commands in order (:mod:`.messages`); see
:mod:`fedloom.ml.hetero.secureboost` for the protocol and what each party learns.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedloom.compute import parallel_histograms, parallel_pack
from fedloom.context import Context
from fedloom.core.errors import DataError, MessageError
from fedloom.crypto.paillier import Packer
from fedloom.crypto.paillier.packing import capacity_bits
from fedloom.data.frame import Frame
from fedloom.ml.hetero.alignment import check_aligned, ids_digest
from fedloom.ml.hetero.binning.local import Clock
from fedloom.ml.hetero.binning.model import Work
from fedloom.ml.hetero.glm.batch import check_columns
from fedloom.ml.hetero.secureboost import messages as msg
from fedloom.ml.hetero.secureboost import records
from fedloom.ml.hetero.secureboost.candidates import (
    CandidatePlan,
    candidate_counts,
    distinct_candidates,
    encrypted_left_sums,
    fill_skipped,
)
from fedloom.ml.hetero.secureboost.local import (
    LocalBins,
    fit_local,
    index_frame,
    node_goes_left,
    sample_features,
)
from fedloom.ml.hetero.secureboost.model import SecureBoostModel
from fedloom.ml.hetero.secureboost.params import HeteroSecureBoostParams
from fedloom.ml.hetero.secureboost.role import SecureBoostRole, work_record
from fedloom.ml.tree import Node, Tree

log = logging.getLogger(__name__)

Hist = list[Any]  # one full per-bin vector (every bin of the tree's features) per chunk


@dataclass
class _HostTree:
    """One tree's fixed inputs on the host: the guest's encrypted g/h and the sampled features' bins."""

    eg: records.EncGH
    feats: np.ndarray
    bins: np.ndarray
    n_bins: np.ndarray
    n_value: np.ndarray
    plan: CandidatePlan
    slots: list[int]


class HeteroSecureBoostHost(SecureBoostRole):
    """Host role of Hetero SecureBoost: features only; keeps the thresholds of its nodes.

    Parameters
    ----------
    params
        :class:`~.params.HeteroSecureBoostParams` or a FATE-style dict (common parameters).
    executor
        Where histograms are summed (default: :func:`fedloom.compute.default_executor`).
    """

    def fit(
        self, ctx: Context, train: Frame, validate: Frame | None = None, init: SecureBoostModel | None = None
    ) -> SecureBoostModel:
        """Take part in training; returns the host's model (its nodes, bins, anonymous names).

        Raises
        ------
        DataError
            Rows not aligned with the guest's; a warm-start model that does not fit.
        MessageError
            A malformed message from the guest (names it).
        """
        p = HeteroSecureBoostParams.coerce(self.params)
        party, pid = str(ctx.party), ctx.party.id
        clock, work = Clock(), Work()
        sent0, recv0 = ctx.stats.total_sent, ctx.stats.total_received
        names = list(train.feature_names)
        anonymous = {n: records.anonymous_name(pid, i) for i, n in enumerate(names)}
        if validate is not None:
            validate = check_columns(names, validate, party, "HeteroSecureBoost")
        digest = ids_digest(train.ids)
        vdigest = ids_digest(validate.ids) if validate is not None else None
        ctx.send(
            msg.HOST_SETUP,
            records.HostSetup(
                digest, train.n_rows, len(names), vdigest, validate.n_rows if validate is not None else 0
            ).to_wire(),
        )
        local = _bin(p, train, init, names, party, clock)
        guest = str(ctx.guest)
        trees = _check_setup(ctx, digest, vdigest, init, party, guest)  # SETUP
        ep = p.encrypt_param
        pk = ctx.recv_public_key(msg.PUBLIC_KEY, scheme=ep.method, min_bits=ep.key_length)
        cap = capacity_bits(pk)
        vindex = index_frame(local.bins, validate, p.zeros_missing, party) if validate is not None else None
        step = 0
        while True:
            sctx = ctx.sub("step", step)
            step += 1
            cmd = records.Command.from_wire(sctx.recv(msg.COMMAND), guest, len(trees))
            if cmd.action == "stop":
                break
            if cmd.action == "decisions":
                _answer_decisions(sctx, cmd, trees, local, vindex, digest, vdigest, guest)  # DECISIONS
                continue
            own: list[Node] = []
            if cmd.federated:
                own = self._grow(sctx, p, local, pk, cap, len(trees), work, clock, guest, pid)
            trees.append(Tree(own, None))
        work_d = work_record(work, clock, ctx, sent0, recv0)
        return SecureBoostModel(
            role="host",
            task_type=p.task_type,
            objective=p.objective,
            objective_params=p.objective_param.params,
            learning_rate=p.learning_rate,
            use_missing=p.missing,
            zero_as_missing=p.zeros_missing,
            trees=trees,
            bins={b.name: b for b in local.bins},
            anonymous=anonymous,
            work=work_d,
        )

    # -- one tree ----------------------------------------------------------------------------------
    def _grow(
        self,
        sctx: Context,
        p: HeteroSecureBoostParams,
        local: LocalBins,
        pk: Any,
        cap: int,
        t_index: int,
        work: Work,
        clock: Clock,
        guest: str,
        pid: str,
    ) -> list[Node]:
        """ENC_GH, then per level NODES → HOST_SPLITS → SPLIT_CHOICE → HOST_LEFT; its own nodes."""
        n = local.index.shape[0]
        eg = records.EncGH.from_wire(sctx.recv(msg.ENC_GH), guest, n, pk, cap)
        work.ciphertexts_received += len(eg.rows) * len(eg.gh)
        ht = _host_tree(p, local, eg, cap, t_index)
        hists: dict[int, Hist] = {}
        own: list[Node] = []
        depth = 0
        while True:
            lctx = sctx.sub("level", depth)
            level = records.Nodes.from_wire(lctx.recv(msg.NODES), guest, len(eg.rows))
            if len(level.nodes) == 0:
                break
            rows_of, split_ids = _level_rows(level)
            with clock.phase("histogram"):
                new_hists = self._level_histograms(level, rows_of, split_ids, hists, eg, ht.bins, ht.n_bins)
            hists = new_hists
            with clock.phase("candidates"):
                perms, n_left, per_chunk = _anonymous_candidates(ht, rows_of, split_ids, hists)
            with clock.phase("pack"):
                sums = _pack_sums(ht, per_chunk, work)
            lctx.send(
                msg.HOST_SPLITS,
                records.HostSplits(
                    np.asarray([len(perms[nid]) for nid in split_ids], dtype=np.int64),
                    np.concatenate(n_left) if n_left else np.zeros(0, dtype=np.int64),
                    sums,
                ).to_wire(),
            )
            choice = records.SplitChoice.from_wire(
                lctx.recv(msg.SPLIT_CHOICE), guest, {nid: len(perms[nid]) for nid in split_ids}
            )
            if len(choice.nodes):
                reply = _won_nodes(ht, local, choice, perms, rows_of, depth, pid, own)
                lctx.send(msg.HOST_LEFT, reply.to_wire())
            depth += 1
        return own

    def _level_histograms(
        self,
        level: records.Nodes,
        rows_of: dict[int, np.ndarray],
        split_ids: list[int],
        parents_hist: dict[int, Hist],
        eg: records.EncGH,
        bins: np.ndarray,
        n_bins: np.ndarray,
    ) -> dict[int, Hist]:
        """Full encrypted histograms of the split nodes: the smaller sibling built, the other one
        derived as parent − sibling when the parent's histogram is at hand."""
        wanted = set(split_ids)
        parent_of = dict(zip(level.nodes.tolist(), level.parents.tolist(), strict=True))
        by_parent: dict[int, list[int]] = {}
        for nid, par in parent_of.items():
            by_parent.setdefault(par, []).append(nid)
        out: dict[int, Hist] = {}
        for par, kids in by_parent.items():
            need = [k for k in kids if k in wanted]
            if not need:
                continue
            if par in parents_hist and len(kids) == 2:
                small, large = sorted(kids, key=lambda k: (len(rows_of[k]), k))
                built = self._build(rows_of[small], eg, bins, n_bins)
                if small in wanted:
                    out[small] = built
                if large in wanted:
                    out[large] = [pv - cv for pv, cv in zip(parents_hist[par], built, strict=True)]
            else:
                for k in need:
                    out[k] = self._build(rows_of[k], eg, bins, n_bins)
        return out

    def _build(self, rows: np.ndarray, eg: records.EncGH, bins: np.ndarray, n_bins: np.ndarray) -> Hist:
        """One node's full histogram per chunk: its most frequent bin of each feature left out of
        the sums and derived as the node total minus the feature's other bins."""
        sub = bins[rows]
        skip = np.asarray(
            [int(np.argmax(np.bincount(sub[:, j], minlength=int(n_bins[j])))) for j in range(sub.shape[1])],
            dtype=np.int64,
        )
        out: Hist = []
        for vec in eg.gh:
            partial = parallel_histograms(vec, bins, n_bins, rows, self.executor, skip=skip)
            total = vec[rows].sum() if len(rows) else vec[:1] * 0
            out.append(fill_skipped(partial, total, n_bins, skip))
        return out

    # -- predict -------------------------------------------------------------------------------------
    def predict(self, ctx: Context, model: SecureBoostModel | Mapping[str, object], frame: Frame) -> None:
        """Answer the guest's prediction: for every own node, which rows go left."""
        m = model if isinstance(model, SecureBoostModel) else SecureBoostModel.from_dict(model)
        party = str(ctx.party)
        frame = check_columns(m.feature_names, frame, party, "HeteroSecureBoost")
        guest = str(ctx.guest)
        setup = records.PredictSetup.from_wire(ctx.recv(msg.PREDICT_SETUP), guest)
        digest = ids_digest(frame.ids)
        check_aligned(digest, setup.ids, party, guest, "prediction")
        bins = list(m.bins.values())
        local = LocalBins(bins, index_frame(bins, frame, m.zero_as_missing, party))
        ctx.send(msg.DECISIONS, _decisions(m.trees, 0, len(m.trees), local.index, local, digest).to_wire())
        return None


def _decisions(
    trees: list[Tree], lo: int, hi: int, index: np.ndarray, local: LocalBins, ids: str
) -> records.Decisions:
    """Per own node of trees ``lo..hi-1`` (tree order, node order), the rows going left."""
    n_value = local.n_value_bins
    keys: list[tuple[int, int]] = []
    rows: list[np.ndarray] = []
    for t in range(lo, hi):
        for nd in sorted(trees[t].nodes, key=lambda x: x.id):
            f = int(nd.feature or 0)
            keys.append((t, nd.id))
            rows.append(np.packbits(node_goes_left(nd, index[:, f], int(n_value[f]))))
    width = (index.shape[0] + 7) // 8
    left = np.stack(rows) if rows else np.zeros((0, width), dtype=np.uint8)
    return records.Decisions(ids, np.asarray(keys, dtype=np.int64).reshape(-1, 2), left)


def _bin(
    p: HeteroSecureBoostParams,
    train: Frame,
    init: SecureBoostModel | None,
    names: list[str],
    party: str,
    clock: Clock,
) -> LocalBins:
    """Bin the host's features; a warm start keeps its stored bins (so its trees stay valid)."""
    with clock.phase("bin"):
        if init is not None:
            if list(init.bins) != names:
                raise DataError(
                    "the warm-start model's features differ from the data's", party=party, field="model"
                )
            bins = list(init.bins.values())
            return LocalBins(bins, index_frame(bins, train, p.zeros_missing, party))
        return fit_local(p, train, party)


def _check_setup(
    ctx: Context,
    digest: str,
    vdigest: str | None,
    init: SecureBoostModel | None,
    party: str,
    guest: str,
) -> list[Tree]:
    """SETUP from the guest: rows must align with ours and both must resume from as many trees."""
    setup = records.Setup.from_wire(ctx.recv(msg.SETUP), guest)
    check_aligned(digest, setup.ids, party, guest, "training")
    if setup.validate_ids is not None:
        if vdigest is None:
            raise DataError(
                "the guest validates but this host has no validation data",
                party=party,
                field="validate_data",
            )
        check_aligned(vdigest, setup.validate_ids, party, guest, "validation")
    trees: list[Tree] = list(init.trees) if init is not None else []
    if setup.init_trees != len(trees):
        raise DataError(
            f"the guest continues from {setup.init_trees} trees, this host's model has {len(trees)}",
            party=party,
            field="model",
        )
    return trees


def _answer_decisions(
    sctx: Context,
    cmd: records.Command,
    trees: list[Tree],
    local: LocalBins,
    vindex: np.ndarray | None,
    digest: str,
    vdigest: str | None,
    guest: str,
) -> None:
    """DECISIONS: the rows going left at our nodes of the asked trees, on train or validation data."""
    index = local.index if cmd.data == "train" else vindex
    if index is None:
        raise MessageError(f"command from {guest}: no validation data", party=guest, field="data")
    ids = digest if cmd.data == "train" else str(vdigest)
    sctx.send(msg.DECISIONS, _decisions(trees, cmd.lo, cmd.hi, index, local, ids).to_wire())


def _host_tree(
    p: HeteroSecureBoostParams, local: LocalBins, eg: records.EncGH, cap: int, t_index: int
) -> _HostTree:
    """The tree's sampled features, their bins over the guest's rows, and the candidate plan."""
    feats = sample_features(len(local.bins), p.subsample_feature_rate, p.random_seed, t_index)
    bins = np.ascontiguousarray(local.index[eg.rows][:, feats])
    n_bins = local.n_bins[feats]
    n_value = local.n_value_bins[feats]
    plan = CandidatePlan.build(n_bins, local.has_missing[feats], p.missing)
    slots = [cap // w if p.cipher_compress else 1 for w in eg.widths]
    return _HostTree(eg, feats, bins, n_bins, n_value, plan, slots)


def _level_rows(level: records.Nodes) -> tuple[dict[int, np.ndarray], list[int]]:
    """Each level node's rows (positions among the guest's rows) and the ids the guest will split."""
    order = np.argsort(level.node_of, kind="stable")
    counts = np.bincount(level.node_of + 1, minlength=len(level.nodes) + 1)
    bounds = np.concatenate(([0], np.cumsum(counts)))
    rows_of = {int(nid): order[bounds[i + 1] : bounds[i + 2]] for i, nid in enumerate(level.nodes.tolist())}
    split_ids = [int(nid) for nid, s in zip(level.nodes.tolist(), level.split.tolist(), strict=True) if s]
    return rows_of, split_ids


def _anonymous_candidates(
    ht: _HostTree, rows_of: dict[int, np.ndarray], split_ids: list[int], hists: dict[int, Hist]
) -> tuple[dict[int, np.ndarray], list[np.ndarray], list[list[Any]]]:
    """Each node's distinct candidates in a secret random order, so the guest learns no feature or
    threshold: the permutation, the left counts and the encrypted left sums per chunk."""
    plan, bins = ht.plan, ht.bins
    perms: dict[int, np.ndarray] = {}
    n_left: list[np.ndarray] = []
    per_chunk: list[list[Any]] = [[] for _ in ht.eg.gh]
    rng = secrets.SystemRandom()
    for nid in split_ids:
        node_bins = bins[rows_of[nid]]
        perm = [int(i) for i in np.flatnonzero(distinct_candidates(plan, node_bins))]
        rng.shuffle(perm)  # anonymous id i is candidate perm[i]
        perms[nid] = np.asarray(perm, dtype=np.int64)
        n_left.append(candidate_counts(plan, node_bins)[perms[nid]])
        for c, vec in enumerate(hists[nid]):
            left = encrypted_left_sums(plan, vec)
            per_chunk[c].append(left[perms[nid]])
    return perms, n_left, per_chunk


def _pack_sums(ht: _HostTree, per_chunk: list[list[Any]], work: Work) -> list[Any]:
    """Pack each chunk's left sums into fewer ciphertexts, rerandomized so they cannot be linked."""
    eg = ht.eg
    sums = []
    for c, parts in enumerate(per_chunk):
        vec = type(eg.gh[c]).concat(parts) if parts else eg.gh[c][:0]
        packed = parallel_pack(Packer(eg.widths[c], ht.slots[c]), vec) if len(vec) else vec.rerandomize()
        sums.append(packed)
        work.ciphertexts_sent += len(packed)
    return sums


def _won_nodes(
    ht: _HostTree,
    local: LocalBins,
    choice: records.SplitChoice,
    perms: dict[int, np.ndarray],
    rows_of: dict[int, np.ndarray],
    depth: int,
    pid: str,
    own: list[Node],
) -> records.HostLeft:
    """Record the nodes our candidates won (thresholds stay here) and say which rows go left."""
    plan = ht.plan
    features: list[str] = []
    lefts: list[np.ndarray] = []
    for nid, cand, left_id, right_id in zip(
        choice.nodes.tolist(),
        choice.candidates.tolist(),
        choice.left.tolist(),
        choice.right.tolist(),
        strict=True,
    ):
        orig = int(perms[nid][cand])
        f_sub = int(plan.feature[orig])
        f = int(ht.feats[f_sub])
        b = int(plan.bin[orig])
        cb = local.bins[f]
        node = Node(
            id=nid,
            depth=depth,
            is_leaf=False,
            owner=f"host-{pid}",
            feature=f,
            bin=b,
            threshold=float(cb.split_points[b]) if cb.split_points else None,
            missing_left=bool(plan.missing_left[orig]),
            left=left_id,
            right=right_id,
            n=len(rows_of[nid]),
        )
        own.append(node)
        features.append(records.anonymous_name(pid, f))
        lefts.append(node_goes_left(node, ht.bins[rows_of[nid], f_sub], int(ht.n_value[f_sub])))
    return records.HostLeft(features, np.concatenate(lefts).astype(np.uint8))


__all__ = ["HeteroSecureBoostHost"]
