"""The guest's side of Hetero SecureBoost: labels, key, gradients, split finding, leaves.

:meth:`HeteroSecureBoostGuest.fit` reads in message order (:mod:`.messages`); see
:mod:`fedloom.ml.hetero.secureboost` for the protocol and what each party learns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedloom.compute import Executor, parallel_encrypt
from fedloom.context import Context
from fedloom.core.errors import CryptoError, DataError, MessageError
from fedloom.core.roles import PartyId
from fedloom.crypto.cipher import generate_keypair
from fedloom.crypto.paillier import Packer
from fedloom.crypto.paillier.packing import capacity_bits
from fedloom.data.frame import Frame
from fedloom.ml.hetero.alignment import check_aligned, ids_digest
from fedloom.ml.hetero.binning.local import Clock
from fedloom.ml.hetero.binning.model import Work
from fedloom.ml.hetero.glm.batch import check_columns
from fedloom.ml.hetero.glm.loss import EarlyStopping, check_metrics, compute_metrics
from fedloom.ml.hetero.secureboost import messages as msg
from fedloom.ml.hetero.secureboost import records
from fedloom.ml.hetero.secureboost.candidates import CandidatePlan
from fedloom.ml.hetero.secureboost.gh import Layout
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
from fedloom.ml.predictions import Predictions
from fedloom.ml.tree import (
    Criterion,
    Node,
    Objective,
    Split,
    Tree,
    best_split_cumulative,
    feature_importance,
    goss_sample,
    leaf_weight,
    objective_for,
)

log = logging.getLogger(__name__)


def host_label(party: PartyId) -> str:
    """How a model names a host: ``host-<party id>``."""
    return f"{party.role.value}-{party.id}"


def criterion(p: HeteroSecureBoostParams) -> Criterion:
    """The split criterion of ``tree_param``."""
    t = p.tree_param
    return Criterion(
        l1=t.l1,
        l2=t.l2,
        min_child_weight=t.min_child_weight,
        min_leaf_node=t.min_leaf_node,
        min_impurity_split=t.min_impurity_split,
        min_sample_split=t.min_sample_split,
    )


@dataclass
class _Run:
    """One fit's state shared by its steps."""

    p: HeteroSecureBoostParams
    c: Criterion
    obj: Objective
    local: LocalBins
    names: list[str]
    hosts: list[PartyId]
    pk: Any
    sk: Any
    capacity: int
    executor: Executor | None
    work: Work
    clock: Clock
    vindex: np.ndarray | None = None
    step: int = 0
    trees: list[Tree] = field(default_factory=list)
    host_features: list[dict[int, str]] = field(default_factory=list)

    def next_ctx(self, ctx: Context) -> Context:
        sctx = ctx.sub("step", self.step)
        self.step += 1
        return sctx


@dataclass
class _Progress:
    """The running scores and history of one fit, updated round by round."""

    scores: np.ndarray
    vscores: np.ndarray | None
    history: dict[str, list[Any]]
    v_done: int = 0
    best: int | None = None


@dataclass
class _Growing:
    """One tree's state while it grows: the sampled rows' g/h, the candidate plan, the nodes so far."""

    g: np.ndarray
    h: np.ndarray
    rows: np.ndarray
    feats: np.ndarray
    sub_index: np.ndarray
    plan: CandidatePlan
    gh1: np.ndarray
    nodes: list[Node] = field(default_factory=list)
    node_rows: dict[int, np.ndarray] = field(default_factory=dict)
    host_feats: dict[int, str] = field(default_factory=dict)

    def new_node(self, depth: int, idx: np.ndarray) -> Node:
        """A leaf over the sampled rows ``idx``, with their gradient sums (it may be split later)."""
        node = Node(
            id=len(self.nodes),
            depth=depth,
            is_leaf=True,
            n=len(idx),
            sum_grad=[float(v) for v in self.g[idx].sum(axis=0)],
            sum_hess=[float(v) for v in self.h[idx].sum(axis=0)],
        )
        self.nodes.append(node)
        self.node_rows[node.id] = idx
        return node


class HeteroSecureBoostGuest(SecureBoostRole):
    """Guest role of Hetero SecureBoost: owns the labels and the Paillier key, builds the trees.

    Parameters
    ----------
    params
        :class:`~.params.HeteroSecureBoostParams` or a FATE-style dict.
    executor
        Where encryption runs (default: :func:`fedloom.compute.default_executor`).
    """

    # -- fit ----------------------------------------------------------------------------------------
    def fit(
        self, ctx: Context, train: Frame, validate: Frame | None = None, init: SecureBoostModel | None = None
    ) -> SecureBoostModel:
        """Train with the hosts; returns the guest's model.

        Raises
        ------
        ConfigError
            A bad parameter (names the field).
        DataError
            No label, a label that does not fit the task, rows not aligned with a host's.
        MessageError
            A malformed message from a host (names it); nothing of it is decrypted unless it has
            exactly the expected shape.
        """
        p = HeteroSecureBoostParams.coerce(self.params)
        party = str(ctx.party)
        clock, work = Clock(), Work()
        sent0, recv0 = ctx.stats.total_sent, ctx.stats.total_received
        classes, y, obj, validate = self._check_inputs(p, train, validate, init, party)
        hosts = list(ctx.hosts)
        self._exchange_setup(ctx, hosts, train, validate, init, party)  # HOST_SETUP in, SETUP out
        with clock.phase("keygen"):
            ep = p.encrypt_param
            pk, sk = generate_keypair(ep.method, ep.key_length)
        if hosts:
            ctx.send(msg.PUBLIC_KEY, pk, to=hosts)
        run = self._start_run(p, train, validate, init, party, obj, hosts, pk, sk, work, clock)
        init_score, prog = self._start_progress(ctx, run, train, validate, init, y)

        k_out = obj.n_outputs
        single = k_out > 1 and not p.multi_output
        per_round = k_out if single else 1
        first_round = len(run.trees) // per_round
        task = self._task(p, classes)
        metrics = (
            (
                check_metrics(p.metrics, task, "HeteroSecureBoost")
                if task != "multi"
                else (p.metrics or ["accuracy"])
            )
            if validate is not None
            else []
        )
        stopper = EarlyStopping(p.early_stopping_rounds, metrics, p.use_first_metric_only, task)
        for rnd in range(first_round, p.num_trees):
            round_start = time.perf_counter()
            federated = rnd >= p.n_complete_secure and bool(hosts)
            self._boost_round(ctx, run, prog, y, federated, single, per_round)  # COMMAND "tree" ...
            loss = float(obj.loss(y, prog.scores))
            prog.history["loss"].append(loss)
            prog.history["round_seconds"].append(round(time.perf_counter() - round_start, 4))
            stop = False
            if validate is not None and prog.vscores is not None and p.validates_at(rnd):
                stop = self._validate_round(ctx, run, prog, rnd, classes, validate, metrics, task, stopper)
            if (
                p.n_iter_no_change
                and len(prog.history["loss"]) > 1
                and abs(prog.history["loss"][-2] - loss) < p.tol
            ):
                log.info("HeteroSecureBoost converged after round %d (loss %.6g)", rnd, loss)
                stop = True
            if stop:
                break
        if hosts:
            run.next_ctx(ctx).send(msg.COMMAND, records.Command("stop").to_wire(), to=hosts)
        return self._model(ctx, run, classes, init_score, prog, sent0, recv0)

    def _check_inputs(
        self,
        p: HeteroSecureBoostParams,
        train: Frame,
        validate: Frame | None,
        init: SecureBoostModel | None,
        party: str,
    ) -> tuple[list[Any], np.ndarray, Objective, Frame | None]:
        """Check the label, validation data and warm-start model before anything is sent."""
        if train.label is None:
            raise DataError("the guest's training data has no label", party=party, field="label")
        classes, y = self._labels(p, train.label, party)
        obj = objective_for(p.task_type, p.objective, p.objective_param.params, max(len(classes), 2))
        if validate is not None:
            if validate.label is None:
                raise DataError("the validation data has no label", party=party, field="label")
            validate = check_columns(train.feature_names, validate, party, "HeteroSecureBoost")
        if init is not None and list(init.bins) != list(train.feature_names):
            raise DataError(
                "the warm-start model's features differ from the data's", party=party, field="model"
            )
        return classes, y, obj, validate

    @staticmethod
    def _exchange_setup(
        ctx: Context,
        hosts: list[PartyId],
        train: Frame,
        validate: Frame | None,
        init: SecureBoostModel | None,
        party: str,
    ) -> None:
        """HOST_SETUP from each host (rows must align with ours), then SETUP to all hosts."""
        digest = ids_digest(train.ids)
        vdigest = ids_digest(validate.ids) if validate is not None else None
        setups = {h: records.HostSetup.from_wire(ctx.recv(msg.HOST_SETUP, frm=h), str(h)) for h in hosts}
        for h, s in setups.items():
            check_aligned(digest, s.ids, party, str(h), "training")
            if vdigest is not None:
                check_aligned(vdigest, str(s.validate_ids), party, str(h), "validation")
        n_init = len(init.trees) if init is not None else 0
        setup = records.Setup(
            digest, train.n_rows, vdigest, validate.n_rows if validate is not None else 0, n_init
        )
        if hosts:
            ctx.send(msg.SETUP, setup.to_wire(), to=hosts)

    def _start_run(
        self,
        p: HeteroSecureBoostParams,
        train: Frame,
        validate: Frame | None,
        init: SecureBoostModel | None,
        party: str,
        obj: Objective,
        hosts: list[PartyId],
        pk: Any,
        sk: Any,
        work: Work,
        clock: Clock,
    ) -> _Run:
        """Bin the guest's features (a warm start keeps its stored bins) and gather the fit's state."""
        with clock.phase("bin"):
            if init is not None:  # continue with the stored bins
                bins = list(init.bins.values())
                local = LocalBins(bins, index_frame(bins, train, p.zeros_missing, party))
            else:
                local = fit_local(p, train, party)
        run = _Run(
            p,
            criterion(p),
            obj,
            local,
            list(train.feature_names),
            hosts,
            pk,
            sk,
            capacity_bits(pk),
            self.executor,
            work,
            clock,
        )
        if validate is not None:
            run.vindex = index_frame(local.bins, validate, p.zeros_missing, party)
        return run

    def _start_progress(
        self,
        ctx: Context,
        run: _Run,
        train: Frame,
        validate: Frame | None,
        init: SecureBoostModel | None,
        y: np.ndarray,
    ) -> tuple[np.ndarray, _Progress]:
        """Initial scores; a warm start resumes its trees, history and scores (asking hosts' decisions)."""
        obj = run.obj
        k_out = obj.n_outputs
        init_score = np.asarray(
            init.init_score if init is not None else obj.init_score(y, None), dtype=np.float64
        )
        scores = np.tile(init_score, (train.n_rows, 1))
        vscores = np.tile(init_score, (validate.n_rows, 1)) if validate is not None else None
        history: dict[str, list[Any]] = {"loss": [], "validation": [], "round_seconds": []}
        if init is not None:
            run.trees = list(init.trees)
            run.host_features = [dict(m) for m in init.host_features]
            history = {
                key: list(init.history.get(key, [])) for key in ("loss", "validation", "round_seconds")
            }
            if run.trees:
                scores = scores + self._scores_of(
                    ctx, run, "train", 0, len(run.trees), run.local.index, k_out
                )
        return init_score, _Progress(scores, vscores, history)

    def _boost_round(
        self,
        ctx: Context,
        run: _Run,
        prog: _Progress,
        y: np.ndarray,
        federated: bool,
        single: bool,
        per_round: int,
    ) -> None:
        """Grow one round's trees (one per class when not multi-output) and add them to the scores."""
        k_out = run.obj.n_outputs
        g_all, h_all = run.obj.grad_hess(y, prog.scores)
        for k in range(per_round):
            cols = [k] if single else list(range(k_out))
            tree, rows, node_rows = self._tree(
                ctx, run, g_all[:, cols], h_all[:, cols], federated, k if single else None
            )
            run.trees.append(tree)
            leaves = self._train_leaves(ctx, run, tree, rows, node_rows)
            values = tree.leaf_values(leaves)
            if single:
                prog.scores[:, k] += values[:, 0]
            else:
                prog.scores += values

    def _validate_round(
        self,
        ctx: Context,
        run: _Run,
        prog: _Progress,
        rnd: int,
        classes: list[Any],
        validate: Frame,
        metrics: list[str],
        task: str,
        stopper: EarlyStopping,
    ) -> bool:
        """Score the new trees on the validation data (hosts decide at theirs); True: stop early."""
        assert run.vindex is not None and validate.label is not None and prog.vscores is not None
        prog.vscores = prog.vscores + self._scores_of(
            ctx, run, "validate", prog.v_done, len(run.trees), run.vindex, run.obj.n_outputs
        )
        prog.v_done = len(run.trees)
        values_v = self._metrics(run.p, run.obj, classes, validate.label, prog.vscores, metrics, task)
        prog.history["validation"].append({"round": rnd, "metrics": values_v})
        stop = stopper.update(rnd, values_v)
        prog.best = stopper.best_epoch
        return stop

    def _model(
        self,
        ctx: Context,
        run: _Run,
        classes: list[Any],
        init_score: np.ndarray,
        prog: _Progress,
        sent0: int,
        recv0: int,
    ) -> SecureBoostModel:
        """The guest's model, with feature importance named by owner (hosts' names as they reported them)."""
        p = run.p

        def name_of(node: Node) -> str:
            if node.owner == "guest":
                return run.names[int(node.feature or 0)]
            tree_idx = next(i for i, t in enumerate(run.trees) if node in t.nodes)
            return run.host_features[tree_idx].get(node.id, node.owner)

        work_d = work_record(run.work, run.clock, ctx, sent0, recv0)
        return SecureBoostModel(
            role="guest",
            task_type=p.task_type,
            objective=p.objective,
            objective_params=p.objective_param.params,
            learning_rate=p.learning_rate,
            classes=classes,
            init_score=[float(v) for v in init_score],
            multi_output=p.multi_output and run.obj.n_outputs > 1,
            use_missing=p.missing,
            zero_as_missing=p.zeros_missing,
            trees=run.trees,
            bins={b.name: b for b in run.local.bins},
            host_features=run.host_features,
            feature_importance=feature_importance(run.trees, name_of),
            history=prog.history,
            best_iteration=prog.best,
            work=work_d,
        )

    # -- one tree -----------------------------------------------------------------------------------
    def _tree(
        self, ctx: Context, run: _Run, g: np.ndarray, h: np.ndarray, federated: bool, class_index: int | None
    ) -> tuple[Tree, np.ndarray, dict[int, np.ndarray]]:
        """Grow one tree level by level (hosts take part when ``federated``).

        Returns the tree, the sampled rows and each node's rows (positions among the sampled rows).
        """
        p, c = run.p, run.c
        t_index = len(run.trees)
        sctx = run.next_ctx(ctx) if run.hosts else ctx
        rows, g, h = _sample_rows(p, t_index, g, h)
        layout = self._start_tree(sctx, run, t_index, federated, g, h, rows)  # COMMAND "tree", ENC_GH
        gt = self._growing(run, t_index, g, h, rows)
        level = [gt.new_node(0, np.arange(len(rows), dtype=np.int64))]
        parents = {0: -1}
        depth = 0
        while level:
            to_split = [
                nd
                for nd in level
                if depth < p.tree_param.max_depth
                and nd.n >= max(c.min_sample_split, 2 * max(1, c.min_leaf_node))
            ]
            lctx = sctx.sub("level", depth)
            if federated:
                self._send_nodes(lctx, run, level, parents, to_split, len(rows), gt.node_rows)  # NODES
            if not to_split:
                break
            with run.clock.phase("guest_histograms"):
                own = self._guest_candidates(gt, to_split)
            host_cands: dict[PartyId, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
            if federated:
                assert layout is not None
                for host in run.hosts:
                    host_cands[host] = self._host_candidates(lctx, run, host, layout, to_split)  # HOST_SPLITS
            splits = _best_splits(c, to_split, own, host_cands)
            choices, pending = self._split_nodes(run, gt, to_split, splits, depth, federated)
            if federated:
                self._host_children(lctx, run, gt, choices)  # SPLIT_CHOICE out, HOST_LEFT in
            level, parents = _next_level(to_split, pending)
            depth += 1
        for nd in gt.nodes:
            if nd.is_leaf:
                w = leaf_weight(np.asarray(nd.sum_grad), np.asarray(nd.sum_hess), c)
                nd.weight = [float(p.learning_rate * v) for v in np.atleast_1d(w)]
        tree = Tree(gt.nodes, class_index)
        tree.check()
        run.host_features.append(gt.host_feats)
        return tree, rows, gt.node_rows

    @staticmethod
    def _start_tree(
        sctx: Context,
        run: _Run,
        t_index: int,
        federated: bool,
        g: np.ndarray,
        h: np.ndarray,
        rows: np.ndarray,
    ) -> Layout | None:
        """COMMAND "tree" to the hosts, then (federated) ENC_GH: the sampled rows' encrypted g/h."""
        layout: Layout | None = None
        if run.hosts:
            sctx.send(msg.COMMAND, records.Command("tree", t_index, federated).to_wire(), to=run.hosts)
        if federated:
            layout = Layout.for_rows(g, h, len(rows), run.capacity)
            with run.clock.phase("encrypt"):
                plain = layout.encode(g, h)
                enc = [parallel_encrypt(run.sk, chunk, run.executor) for chunk in plain]
            run.work.encryptions += len(rows) * len(enc)
            sctx.send(msg.ENC_GH, records.EncGH(rows, layout.widths, enc).to_wire(), to=run.hosts)
            run.work.ciphertexts_sent += len(rows) * len(enc) * len(run.hosts)
        return layout

    @staticmethod
    def _growing(run: _Run, t_index: int, g: np.ndarray, h: np.ndarray, rows: np.ndarray) -> _Growing:
        """The tree's sampled features and their candidate plan, ready to grow from the root."""
        p = run.p
        feats = sample_features(len(run.local.bins), p.subsample_feature_rate, p.random_seed, t_index)
        sub_index = run.local.index[rows][:, feats]
        plan = CandidatePlan.build(run.local.n_bins[feats], run.local.has_missing[feats], p.missing)
        gh1 = np.concatenate([g, h, np.ones((len(rows), 1))], axis=1)
        return _Growing(g, h, rows, feats, sub_index, plan, gh1)

    @staticmethod
    def _guest_candidates(
        gt: _Growing, to_split: list[Node]
    ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Left sums (g, h, count) of every guest candidate split, per node, from plain histograms."""
        plan, starts = gt.plan, gt.plan.starts
        total_bins = int(plan.n_bins.sum())
        k_out = gt.g.shape[1]
        own: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for nd in to_split:
            idx = gt.node_rows[nd.id]
            flat = (gt.sub_index[idx] + starts[None, :]).ravel()
            hist = np.empty((total_bins, gt.gh1.shape[1]))
            for j in range(gt.gh1.shape[1]):
                hist[:, j] = np.bincount(
                    flat, weights=np.repeat(gt.gh1[idx, j], len(gt.feats)), minlength=total_bins
                )
            left = plan.left_sums(hist)
            own[nd.id] = (
                left[:, :k_out],
                left[:, k_out : 2 * k_out],
                np.rint(left[:, -1]).astype(np.int64),
            )
        return own

    def _split_nodes(
        self,
        run: _Run,
        gt: _Growing,
        to_split: list[Node],
        splits: dict[int, tuple[str, Split]],
        depth: int,
        federated: bool,
    ) -> tuple[dict[PartyId, list[tuple[Node, int]]], dict[int, tuple[Node, Node]]]:
        """Turn split nodes into inner nodes with two children; the guest's own splits route rows now,
        the hosts' wait for HOST_LEFT (returned as each host's won nodes with their candidates)."""
        choices: dict[PartyId, list[tuple[Node, int]]] = {h: [] for h in run.hosts} if federated else {}
        pending: dict[int, tuple[Node, Node]] = {}
        nodes, plan = gt.nodes, gt.plan
        # children ids in node order
        for nd in to_split:
            if nd.id not in splits:
                continue
            owner, s = splits[nd.id]
            nd.is_leaf = False
            nd.gain = float(s.gain)
            nd.left, nd.right = len(nodes), len(nodes) + 1
            # placeholders, filled once the rows going left are known
            lnode = Node(id=len(nodes), depth=depth + 1, is_leaf=True)
            rnode = Node(id=len(nodes) + 1, depth=depth + 1, is_leaf=True)
            nodes.extend([lnode, rnode])
            pending[nd.id] = (lnode, rnode)
            if owner == "guest":
                f = int(plan.feature[s.feature])
                nd.owner = "guest"
                nd.feature = int(gt.feats[f])
                nd.bin = int(plan.bin[s.feature])
                nd.missing_left = bool(plan.missing_left[s.feature])
                cb = run.local.bins[nd.feature]
                nd.threshold = float(cb.split_points[nd.bin]) if cb.split_points else None
                go = plan.goes_left(s.feature, gt.sub_index[gt.node_rows[nd.id], f])
                self._children(nd, go, gt.node_rows, gt.g, gt.h, nodes)
            else:
                host = next(hh for hh in run.hosts if str(hh) == owner)
                nd.owner = host_label(host)
                choices[host].append((nd, s.feature))
        return choices, pending

    def _host_children(
        self, lctx: Context, run: _Run, gt: _Growing, choices: dict[PartyId, list[tuple[Node, int]]]
    ) -> None:
        """SPLIT_CHOICE to every host (its won nodes, maybe none), then HOST_LEFT from each that won."""
        for host in run.hosts:
            won = choices[host]
            choice = records.SplitChoice(
                np.asarray([nd.id for nd, _ in won], dtype=np.int64),
                np.asarray([cand for _, cand in won], dtype=np.int64),
                np.asarray([nd.left for nd, _ in won], dtype=np.int64),
                np.asarray([nd.right for nd, _ in won], dtype=np.int64),
            )
            lctx.send(msg.SPLIT_CHOICE, choice.to_wire(), to=host)
        for host in run.hosts:
            won = choices[host]
            if not won:
                continue
            sizes = [len(gt.node_rows[nd.id]) for nd, _ in won]
            reply = records.HostLeft.from_wire(
                lctx.recv(msg.HOST_LEFT, frm=host), str(host), party_id=host.id, sizes=sizes
            )
            pos = 0
            for (nd, _), size, fname in zip(won, sizes, reply.features, strict=True):
                go = reply.left[pos : pos + size]
                pos += size
                gt.host_feats[nd.id] = fname
                self._children(nd, go, gt.node_rows, gt.g, gt.h, gt.nodes)

    @staticmethod
    def _children(
        nd: Node,
        go: np.ndarray,
        node_rows: dict[int, np.ndarray],
        g: np.ndarray,
        h: np.ndarray,
        nodes: list[Node],
    ) -> None:
        """Fill the two children of ``nd`` from the rows going left."""
        idx = node_rows[nd.id]
        assert nd.left is not None and nd.right is not None
        for child_id, part in ((nd.left, idx[go]), (nd.right, idx[~go])):
            child = nodes[child_id]
            child.n = len(part)
            child.sum_grad = [float(v) for v in g[part].sum(axis=0)]
            child.sum_hess = [float(v) for v in h[part].sum(axis=0)]
            node_rows[child_id] = part

    def _send_nodes(
        self,
        lctx: Context,
        run: _Run,
        level: list[Node],
        parents: dict[int, int],
        to_split: list[Node],
        n_sampled: int,
        node_rows: dict[int, np.ndarray],
    ) -> None:
        """NODES: the level's membership (empty when nothing is split: the tree is done)."""
        if not to_split:
            wire = records.Nodes(
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0, bool),
                np.full(n_sampled, -1, np.int32),
            )
        else:
            node_of = np.full(n_sampled, -1, dtype=np.int32)
            for i, nd in enumerate(level):
                node_of[node_rows[nd.id]] = i
            split_ids = {nd.id for nd in to_split}
            wire = records.Nodes(
                np.asarray([nd.id for nd in level], dtype=np.int64),
                np.asarray([parents[nd.id] for nd in level], dtype=np.int64),
                np.asarray([nd.id in split_ids for nd in level], dtype=bool),
                node_of,
            )
        lctx.send(msg.NODES, wire.to_wire(), to=run.hosts)

    def _host_candidates(
        self, lctx: Context, run: _Run, host: PartyId, layout: Layout, to_split: list[Node]
    ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """HOST_SPLITS of ``host``: checked, decrypted, unpacked, decoded per node."""
        sender = str(host)
        slots = [run.capacity // w if run.p.cipher_compress else 1 for w in layout.widths]
        with run.clock.phase("host_splits_wait"):
            raw = lctx.recv(msg.HOST_SPLITS, frm=host)
        hs = records.HostSplits.from_wire(
            raw, sender, node_rows=[nd.n for nd in to_split], public_key=run.pk, slots=slots
        )
        total = int(hs.counts.sum())
        per_chunk: list[list[int]] = []
        with run.clock.phase("decrypt"):
            for vec, w, k in zip(hs.sums, layout.widths, slots, strict=True):
                run.work.ciphertexts_received += len(vec)
                run.work.decryptions += len(vec)
                plain = run.sk.decrypt_packed_raw(vec)
                try:
                    unpacked = (
                        Packer(w, k).unpack(plain, n_cols=k) if len(plain) else np.zeros((0, k), np.int64)
                    )
                except CryptoError as exc:
                    raise MessageError(
                        f"host_splits from {sender}: the packed sums do not decode ({exc})",
                        party=sender,
                        field="sums",
                    ) from None
                flat = [int(v) for v in unpacked.reshape(-1).tolist()]
                if any(flat[total:]):
                    raise MessageError(
                        f"host_splits from {sender}: padding slots are not zero", party=sender, field="sums"
                    )
                per_chunk.append(flat[:total])
        nl = hs.n_left
        try:
            gl, hl = layout.decode(per_chunk, nl)
        except ValueError as exc:
            raise MessageError(f"host_splits from {sender}: {exc}", party=sender, field="sums") from None
        out: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        pos = 0
        for nd, count in zip(to_split, hs.counts.tolist(), strict=True):
            sl = slice(pos, pos + count)
            pos += count
            out[nd.id] = (gl[sl], hl[sl], nl[sl])
        return out

    # -- scores from trees --------------------------------------------------------------------------
    def _train_leaves(
        self, ctx: Context, run: _Run, tree: Tree, rows: np.ndarray, node_rows: dict[int, np.ndarray]
    ) -> np.ndarray:
        """The leaf of every training row of the tree just built (GOSS: the rows left out of the
        sample are routed with the hosts' decisions)."""
        n = run.local.index.shape[0]
        if len(rows) == n:
            leaves = np.full(n, -1, dtype=np.int64)
            for nd in tree.nodes:
                if nd.is_leaf:
                    leaves[rows[node_rows[nd.id]]] = nd.id
            return leaves
        t = len(run.trees) - 1
        return self._leaves_of(ctx, run, "train", t, t + 1, run.local.index)[0]

    def _leaves_of(
        self, ctx: Context, run: _Run, data: str, lo: int, hi: int, index: np.ndarray
    ) -> list[np.ndarray]:
        """Leaves of every row of ``data`` in trees ``lo..hi-1``, with the hosts' decisions."""
        decisions: dict[tuple[int, int], np.ndarray] = {}
        n = index.shape[0]
        if run.hosts and any(
            nd.owner != "guest" for t in run.trees[lo:hi] for nd in t.nodes if not nd.is_leaf
        ):
            sctx = run.next_ctx(ctx)
            sctx.send(
                msg.COMMAND, records.Command("decisions", data=data, lo=lo, hi=hi).to_wire(), to=run.hosts
            )
            for host in run.hosts:
                expected = _host_keys(run.trees, lo, hi, host_label(host))
                dec = records.Decisions.from_wire(sctx.recv(msg.DECISIONS, frm=host), str(host), expected, n)
                for key, left in zip(expected.tolist(), dec.rows_left(n), strict=True):
                    decisions[(key[0], key[1])] = left
        return [
            _route(t_idx, run.trees[t_idx], index, run.local.n_value_bins, decisions)
            for t_idx in range(lo, hi)
        ]

    def _scores_of(
        self, ctx: Context, run: _Run, data: str, lo: int, hi: int, index: np.ndarray, k_out: int
    ) -> np.ndarray:
        """Sum of trees ``lo..hi-1`` on ``data``."""
        out = np.zeros((index.shape[0], k_out))
        for t_idx, leaves in zip(range(lo, hi), self._leaves_of(ctx, run, data, lo, hi, index), strict=True):
            _add_tree(out, run.trees[t_idx], leaves)
        return out

    # -- predict --------------------------------------------------------------------------------------
    def predict(
        self, ctx: Context, model: SecureBoostModel | Mapping[str, object], frame: Frame
    ) -> Predictions:
        """Predict ``frame`` with the hosts' decisions at their nodes; rows must be aligned with theirs.

        Raises
        ------
        DataError
            Columns differ from the model's; rows not aligned with a host's.
        MessageError
            A host's reply is malformed or of the wrong shape (names the host).
        """
        m = model if isinstance(model, SecureBoostModel) else SecureBoostModel.from_dict(model)
        p = HeteroSecureBoostParams.coerce(self.params)
        party = str(ctx.party)
        frame = check_columns(m.feature_names, frame, party, "HeteroSecureBoost")
        bins = list(m.bins.values())
        index = index_frame(bins, frame, m.zero_as_missing, party)
        n_value = np.asarray([b.n_value_bins for b in bins], dtype=np.int64)
        n = frame.n_rows
        digest = ids_digest(frame.ids)
        hosts = list(ctx.hosts)
        if hosts:
            ctx.send(msg.PREDICT_SETUP, records.PredictSetup(digest, n).to_wire(), to=hosts)
        decisions: dict[tuple[int, int], np.ndarray] = {}
        for host in hosts:
            expected = _host_keys(m.trees, 0, len(m.trees), host_label(host))
            dec = records.Decisions.from_wire(ctx.recv(msg.DECISIONS, frm=host), str(host), expected, n)
            check_aligned(digest, dec.ids, party, str(host), "prediction")
            for key, left in zip(expected.tolist(), dec.rows_left(n), strict=True):
                decisions[(key[0], key[1])] = left
        scores = np.tile(np.asarray(m.init_score, dtype=np.float64), (n, 1))
        for t_idx, tree in enumerate(m.trees):
            _add_tree(scores, tree, _route(t_idx, tree, index, n_value, decisions))
        return _predictions(m, p.predict_param.threshold, frame, scores)

    # -- labels and metrics ---------------------------------------------------------------------------
    @staticmethod
    def _labels(p: HeteroSecureBoostParams, label: np.ndarray, party: str) -> tuple[list[Any], np.ndarray]:
        y = np.asarray(label)
        if p.task_type == "regression":
            yf = y.astype(np.float64)
            if not np.all(np.isfinite(yf)):
                raise DataError("the label has missing or infinite values", party=party, field="label")
            return [], yf
        if y.dtype.kind == "f" and np.isnan(y).any():
            raise DataError("the label has missing values", party=party, field="label")
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError("classification needs at least two label classes", party=party, field="label")
        out = [c.item() if isinstance(c, np.generic) else c for c in classes.tolist()]
        return out, codes.astype(np.float64) if len(classes) == 2 else codes.astype(np.int64)

    @staticmethod
    def _task(p: HeteroSecureBoostParams, classes: list[Any]) -> str:
        if p.task_type == "regression":
            return "regression"
        return "binary" if len(classes) == 2 else "multi"

    @staticmethod
    def _metrics(
        p: HeteroSecureBoostParams,
        obj: Objective,
        classes: list[Any],
        label: np.ndarray,
        scores: np.ndarray,
        names: list[str],
        task: str,
    ) -> dict[str, float]:
        prob = obj.predict(scores)
        if task == "regression":
            return compute_metrics(names, task, label.astype(np.float64), prob, prob)
        if task == "binary":
            pos = classes[1]
            y = (np.asarray(label) == pos).astype(np.float64)
            pred = (prob > p.predict_param.threshold).astype(np.float64)
            return compute_metrics(names, task, y, prob, pred)
        pred = np.asarray(classes, dtype=object)[np.argmax(prob, axis=1)]
        return compute_metrics(names, task, np.asarray(label), prob, pred)


def _sample_rows(
    p: HeteroSecureBoostParams, t_index: int, g: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tree's rows and their g/h: all rows, or a GOSS sample reweighted to stay unbiased."""
    if p.run_goss:
        rng = np.random.default_rng([0 if p.random_seed is None else p.random_seed, t_index])
        rows, mult = goss_sample(g, p.top_rate, p.other_rate, rng)
        return rows, g[rows] * mult[:, None], h[rows] * mult[:, None]
    return np.arange(g.shape[0], dtype=np.int64), g, h


def _best_splits(
    c: Criterion,
    to_split: list[Node],
    own: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
    host_cands: Mapping[PartyId, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]],
) -> dict[int, tuple[str, Split]]:
    """Each node's best split over all parties (the guest wins ties, then hosts in order)."""
    splits: dict[int, tuple[str, Split]] = {}
    for nd in to_split:
        totals = (np.asarray(nd.sum_grad), np.asarray(nd.sum_hess), nd.n)
        best: tuple[str, Split] | None = None
        s = best_split_cumulative(*own[nd.id], totals, c)
        if s is not None:
            best = ("guest", s)
        for host, cands in host_cands.items():
            s = best_split_cumulative(*cands[nd.id], totals, c)
            if s is not None and (best is None or s.gain > best[1].gain):
                best = (str(host), s)
        if best is not None:
            splits[nd.id] = best
    return splits


def _next_level(
    to_split: list[Node], pending: dict[int, tuple[Node, Node]]
) -> tuple[list[Node], dict[int, int]]:
    """The children of this level's split nodes, in node order, with their parents."""
    next_level: list[Node] = []
    next_parents: dict[int, int] = {}
    for nd in to_split:
        if nd.id in pending:
            lnode, rnode = pending[nd.id]
            next_level.extend([lnode, rnode])
            next_parents[lnode.id] = nd.id
            next_parents[rnode.id] = nd.id
    return next_level, next_parents


def _host_keys(trees: list[Tree], lo: int, hi: int, owner: str) -> np.ndarray:
    """``(k, 2)`` (tree, node) of the nodes ``owner`` owns in trees ``lo..hi-1``, in order."""
    keys = [
        (t, nd.id) for t in range(lo, hi) for nd in trees[t].nodes if not nd.is_leaf and nd.owner == owner
    ]
    return np.asarray(keys, dtype=np.int64).reshape(-1, 2)


def _route(
    t_idx: int,
    tree: Tree,
    index: np.ndarray,
    n_value: np.ndarray,
    decisions: dict[tuple[int, int], np.ndarray],
) -> np.ndarray:
    """Leaf of every row: the guest decides at its nodes, the hosts' decisions at theirs."""

    def decide(node: Node, idx: np.ndarray) -> np.ndarray:
        if node.owner == "guest":
            f = int(node.feature or 0)
            return node_goes_left(node, index[idx, f], int(n_value[f]))
        left = decisions.get((t_idx, node.id))
        if left is None:
            raise DataError(f"no decision for host node {node.id} of tree {t_idx}", field="decisions")
        return left[idx]

    return tree.leaf_of(decide, index.shape[0])


def _add_tree(scores: np.ndarray, tree: Tree, leaves: np.ndarray) -> None:
    values = tree.leaf_values(leaves)
    if tree.class_index is not None:
        scores[:, tree.class_index] += values[:, 0]
    else:
        scores += values


def _predictions(m: SecureBoostModel, threshold: float, frame: Frame, scores: np.ndarray) -> Predictions:
    from fedloom.ml.tree import objective_for as _objective

    obj = _objective(m.task_type, m.objective, m.objective_params, max(len(m.classes), 2))
    prob = obj.predict(scores)
    if m.task_type == "regression":
        return Predictions(ids=frame.ids, score=prob, result=prob, label=frame.label, task="regression")
    if len(m.classes) == 2:
        result = np.where(prob > threshold, m.classes[1], m.classes[0])
        return Predictions(
            ids=frame.ids,
            score=prob,
            result=result,
            label=frame.label,
            task="binary",
            classes=list(m.classes),
        )
    result = np.asarray(m.classes, dtype=object)[np.argmax(prob, axis=1)]
    return Predictions(
        ids=frame.ids, score=prob, result=result, label=frame.label, task="multi", classes=list(m.classes)
    )


__all__ = ["HeteroSecureBoostGuest", "host_label"]
