"""The guest's side of Hetero NN: labels, its bottom model, the interactive layer, the top model.

:meth:`HeteroNNGuest.fit` reads in message order (:mod:`.messages`); see :mod:`fedloom.ml.hetero.nn`
for the protocol and what each party learns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import DataError, MessageError
from fedloom.core.roles import PartyId
from fedloom.crypto.cipher import PlainPublicKey
from fedloom.crypto.paillier.keys import PaillierPublicKey
from fedloom.crypto.paillier.sender import SenderObfuscator
from fedloom.data.frame import Frame
from fedloom.ml.hetero.alignment import check_aligned, ids_digest
from fedloom.ml.hetero.glm.loss import EarlyStopping, check_metrics, compute_metrics
from fedloom.ml.hetero.nn import messages as msg
from fedloom.ml.hetero.nn import protocol as pr
from fedloom.ml.hetero.nn.model import HeteroNNModel
from fedloom.ml.hetero.nn.params import ACTIVATIONS, HeteroNNParams
from fedloom.ml.hetero.nn.role import HeteroNNRole, check_prediction_input, coerce_params
from fedloom.ml.predictions import Predictions
from fedloom.ml.torch_layers import make_optimizer, out_width


def select_rows(losses: np.ndarray, beta: float, min_prob: float, rng: np.random.Generator) -> np.ndarray:
    """SelectiveBP ("relative"): keep row ``i`` with probability
    ``min(1, max(min_prob, (L_i / mean L)^beta))``; rows above the mean loss are always kept."""
    mean = float(losses.mean())
    if not math.isfinite(mean) or mean <= 0:
        return np.arange(len(losses))
    prob = np.clip(np.maximum(min_prob, (losses / mean) ** beta), 0.0, 1.0)
    keep = np.flatnonzero(rng.random(len(losses)) < prob)
    return keep if len(keep) else np.array([int(np.argmax(losses))])


@dataclass
class _Host:
    party: PartyId
    key: Any
    dim: int
    weight: np.ndarray  # W'_A: the noised weights the guest trains (host_dim × out)
    lay: pr.Layout | None = None
    obf: Any = None  # SenderObfuscator for this host's key (None: plain cipher)
    groups: int = 0
    enc_alpha: Any = None
    enc_acc: Any = None

    def prepare(self, precision: int, out: int, party: str) -> None:
        """The packing layout and this guest's own re-randomiser for the host's key."""
        self.lay = pr.Layout(int(self.key.n).bit_length(), precision, self.dim, out).check(party)
        if self.obf is None and isinstance(self.key, PaillierPublicKey):
            # Computed ahead while the guest waits for the host's decryptions.
            self.obf = SenderObfuscator(self.key).start()


@dataclass
class _Net:
    """The guest's live networks and optimisers."""

    bottom: Any
    top: Any
    w_b: Any  # torch (guest_dim, out) parameter of the interactive layer, or None
    bias: Any  # torch (out,) parameter
    act: Any
    opt: Any
    opt_i: Any
    gen: Any
    hosts: list[_Host] = field(default_factory=list)


def _targets(p: HeteroNNParams, label: np.ndarray, classes: list[Any] | None) -> tuple[Any, list[Any]]:
    import torch

    if p.task_type == "regression":
        return torch.from_numpy(label.astype(np.float64)).reshape(-1, 1), []
    cls = sorted(np.unique(label).tolist()) if classes is None else classes
    index = {c: i for i, c in enumerate(cls)}
    try:
        y = np.array([index[v] for v in label.tolist()], dtype=np.int64)
    except KeyError as e:
        raise DataError(f"label {e.args[0]!r} was not seen in training", field="label") from None
    if p.loss_name in ("BCELoss", "BCEWithLogitsLoss"):
        if len(cls) > 2:
            raise DataError(f"{p.loss_name} needs two classes; the label has {len(cls)}", field="label")
        return torch.from_numpy(y.astype(np.float64)).reshape(-1, 1), cls
    return torch.from_numpy(y), cls


def _task_metrics(p: HeteroNNParams, classes: list[Any]) -> tuple[str, list[str]]:
    """The task the label makes, and the validation metrics checked against it."""
    task = "regression" if p.task_type == "regression" else ("binary" if len(classes) <= 2 else "multi")
    # Multi-class: FATE's default validation metric is accuracy (no registry default).
    names = (
        check_metrics(p.metric_names, task, "HeteroNN")
        if task != "multi"
        else (p.metric_names or ["accuracy"])
    )
    return task, names


def _per_sample_loss(name: str, out: Any, y: Any) -> Any:
    import torch.nn.functional as F  # noqa: N812

    if name == "BCELoss":
        return F.binary_cross_entropy(out, y, reduction="none").mean(dim=1)
    if name == "BCEWithLogitsLoss":
        return F.binary_cross_entropy_with_logits(out, y, reduction="none").mean(dim=1)
    if name == "CrossEntropyLoss":
        return F.cross_entropy(out, y, reduction="none")
    if name == "NLLLoss":
        return F.nll_loss(out, y, reduction="none")
    if name == "MSELoss":
        return F.mse_loss(out, y, reduction="none").mean(dim=1)
    if name == "L1Loss":
        return F.l1_loss(out, y, reduction="none").mean(dim=1)
    return F.smooth_l1_loss(out, y, reduction="none").mean(dim=1)


@dataclass
class _Commander:
    """Sends each COMMAND on its own step, so every host follows the guest's steps in order."""

    ctx: Context
    step: int = 0

    def __call__(self, op: str, **kw: Any) -> Context:
        """COMMAND ``op`` to all hosts; returns the step's context for the exchange it starts."""
        sctx = self.ctx.sub("step", self.step)
        self.step += 1
        sctx.send(msg.COMMAND, {"op": op, **kw}, to=list(self.ctx.hosts))
        return sctx


class HeteroNNGuest(HeteroNNRole):
    """Guest role of Hetero NN: owns the labels, the interactive layer and the top model.

    Parameters
    ----------
    params
        :class:`~.params.HeteroNNParams` or a FATE-style dict.
    executor
        Unused by the guest's homomorphic products (kept for symmetry with the host).
    """

    # -- setup ----------------------------------------------------------------------------------------
    def _keys(self, ctx: Context, p: HeteroNNParams, party: str) -> dict[PartyId, Any]:
        expected = PaillierPublicKey if p.encrypt_param.method == "paillier" else PlainPublicKey
        keys = {}
        for h in ctx.hosts:
            key = ctx.recv(msg.PUBLIC_KEY, frm=h)
            if not isinstance(key, expected) or key.key_size < p.encrypt_param.key_length:
                raise MessageError(
                    f"{h} sent no {p.encrypt_param.method} public key of at least "
                    f"{p.encrypt_param.key_length} bits",
                    party=party,
                    field="public_key",
                )
            ctx.keyring.add(key)
            keys[h] = key
        return keys

    def _setup(
        self, ctx: Context, p: HeteroNNParams, frame: Frame, validate: Frame | None, out: int
    ) -> dict[PartyId, Any]:
        party = str(ctx.party)
        setups = {h: ctx.recv(msg.HOST_SETUP, frm=h) for h in ctx.hosts}
        for h, s in setups.items():
            if not isinstance(s, dict) or not isinstance(s.get("out_dim"), int) or s["out_dim"] < 1:
                raise MessageError(f"malformed setup from {h}", party=party, field="host_setup")
            check_aligned(ids_digest(frame.ids), str(s.get("ids")), party, str(h), "training")
            if validate is not None:
                check_aligned(
                    ids_digest(validate.ids), str(s.get("validate_ids")), party, str(h), "validation"
                )
        keys = self._keys(ctx, p, party)
        ctx.send(
            msg.SETUP,
            {
                "ids": ids_digest(frame.ids),
                "rows": frame.n_rows,
                "validate_ids": ids_digest(validate.ids) if validate is not None else None,
                "out_dim": out,
                "precision": p.precision_bits,
            },
            to=list(ctx.hosts),
        )
        return {h: (keys[h], int(setups[h]["out_dim"])) for h in ctx.hosts}

    def _build(
        self, p: HeteroNNParams, n_features: int, host_dims: list[int], party: str
    ) -> tuple[_Net, dict[str, Any]]:
        import torch

        il = p.interactive_layer_define
        if il is None:
            raise DataError(
                "the guest needs an interactive_layer_define", party=party, field="interactive_layer_define"
            )
        seed = p.effective_seed
        bottom_layers = p.bottom_layers() if il.need_guest else []
        bottom = pr.build_module(bottom_layers, seed) if bottom_layers else None
        gdim = 0
        if il.need_guest:
            gdim = il.guest_dim or out_width(bottom_layers) or n_features
        top_layers = p.top_layers()
        if not top_layers:
            raise DataError("the guest needs a top_nn_define", party=party, field="top_nn_define")
        top = pr.build_module(top_layers, seed + 100)
        w_b, hw, b = pr.init_interactive(seed, gdim, host_dims, il.out_dim, il.bias)
        w_bt = torch.nn.Parameter(torch.from_numpy(w_b)) if gdim else None
        bias = torch.nn.Parameter(torch.from_numpy(b), requires_grad=il.bias)
        act_name = ACTIVATIONS[il.activation]
        act = getattr(torch.nn, act_name)() if act_name else torch.nn.Identity()
        params = list(top.parameters()) + (list(bottom.parameters()) if bottom is not None else [])
        o = p.optimizer
        opt = make_optimizer(
            params,
            o.optimizer,
            lr=p.optimizer_lr,
            weight_decay=o.weight_decay,
            momentum=o.momentum,
            extra=o.extra(),
            owner="HeteroNN",
            field="optimizer",
        )
        inter = [t for t in (w_bt, bias) if t is not None and t.requires_grad]
        opt_i = torch.optim.SGD(inter, lr=p.interactive_layer_lr) if inter else None
        gen = torch.Generator().manual_seed(seed + 1000)
        net = _Net(bottom, top, w_bt, bias, act, opt, opt_i, gen)
        spec = {
            "out_dim": il.out_dim,
            "activation": il.activation,
            "dropout": il.dropout,
            "need_guest": il.need_guest,
            "guest_dim": gdim,
            "host_dims": host_dims,
            "bias": il.bias,
        }
        return net, {"bottom": bottom_layers, "top": top_layers, "spec": spec, "hw": hw}

    # -- the exchanges --------------------------------------------------------------------------------
    def _forward(
        self, ctx: Context, p: HeteroNNParams, net: _Net, rows: int, out: int, work: pr.Work
    ) -> np.ndarray:
        """The interactive exchange with every host: Σ_h z_A (rows × out), keeping [α̃] and [ε_acc]."""
        party = str(ctx.party)
        masks = {}
        for h in net.hosts:
            lay = h.lay
            assert lay is not None
            m = ctx.recv(msg.HOST_FORWARD, frm=h.party)
            if not isinstance(m, dict):
                raise MessageError(
                    f"malformed forward message from {h.party}", party=party, field="host_forward"
                )
            h.groups = groups = lay.groups(rows)
            h.enc_alpha = pr.check_vector(
                m.get("alpha"), h.key, h.dim * groups, 0, "host_forward.alpha", party
            )
            h.enc_acc = pr.check_vector(
                m.get("acc"), h.key, out * lay.in_chunks * lay.in_rows, 0, "host_forward.acc", party
            )
            masks[h.party] = np.empty((out, groups * lay.rows_per_ct), dtype=object)
        # One message per output unit: the host decrypts unit j while the guest computes j + 1.
        weights = {h.party: pr.fixed(h.weight, p.precision_bits) for h in net.hosts}
        inverses: dict[PartyId, dict[int, Any]] = {h.party: {} for h in net.hosts}
        for j in range(out):
            for h in net.hosts:
                lay = h.lay
                assert lay is not None
                per = lay.rows_per_ct
                t = time.perf_counter()
                w_j = weights[h.party][:, j : j + 1]
                z = pr.forward_product(h.enc_alpha, h.groups, w_j, work, inverses[h.party])
                slots = pr.draw_slots(h.groups * per, lay)
                masked = pr.add_ints(z, pr.join_slots(slots, per, lay.slot))
                _tick(work, "forward_product", t)
                t = time.perf_counter()
                masked = masked.rerandomize(obfuscator=h.obf)
                work.rerandomized += len(masked)
                _tick(work, "rerandomize", t)
                ctx.sub("part", j).send(msg.FORWARD_MASKED, masked, to=h.party)
                masks[h.party][j] = slots
        total = np.zeros((rows, out))
        for h in net.hosts:
            assert h.lay is not None
            ints = pr.ints_from_wire(
                ctx.recv(msg.FORWARD_UNMASKED, frm=h.party), rows * out, "forward_unmasked", party
            )
            vals = np.empty(len(ints), dtype=object)
            vals[:] = ints
            sent = masks[h.party][:, :rows].ravel()
            total += pr.to_float((vals - sent).tolist(), h.lay.scale, (rows, out))
        return total

    def _backward(
        self,
        ctx: Context,
        p: HeteroNNParams,
        net: _Net,
        rows: int,
        out: int,
        sel: np.ndarray,
        delta: np.ndarray,
        work: pr.Work,
    ) -> None:
        party = str(ctx.party)
        d_all = np.zeros_like(delta)
        d_all[sel] = delta[sel]  # rows SelectiveBP dropped contribute nothing
        masks = {}
        for h in net.hosts:
            lay = h.lay
            assert lay is not None
            per = lay.rows_per_ct
            d_int = np.rint(np.ldexp(d_all, lay.precision)).astype(np.int64)
            t = time.perf_counter()
            grad = pr.weight_gradient(h.enc_alpha, lay, h.groups, d_int, work)
            slots = pr.draw_slots(len(grad) * per, lay)
            grad = pr.add_ints(grad, pr.join_slots(slots, per, lay.slot))
            # Ciphertext (k, j, r) is read at its slot r only: those masks come back.
            masks[h.party] = np.array(
                [sum(slots[(i * per + r) * per + r] for r in range(per)) for i in range(h.dim * out)],
                dtype=object,
            )
            _tick(work, "backward_product", t)
            t = time.perf_counter()
            grad = grad.rerandomize(obfuscator=h.obf)
            work.rerandomized += len(grad)
            _tick(work, "rerandomize", t)
            ctx.send(
                msg.BACKWARD_MASKED,
                {"rows": None if len(sel) == rows else sel.astype(np.int64), "grad": grad},
                to=h.party,
            )
            # The input gradients in parts: the host decrypts one while the guest computes the next.
            plain = pr.fixed(delta[sel] @ h.weight.T, lay.scale)
            d_sel = d_int[sel]
            for i, (a, b) in enumerate(pr.input_parts(len(sel), lay)):
                t = time.perf_counter()
                ing = pr.input_gradient(h.enc_acc, lay, d_sel[a:b], plain[a:b], work)
                _tick(work, "backward_product", t)
                t = time.perf_counter()
                ing = ing.rerandomize(obfuscator=h.obf)
                work.rerandomized += len(ing)
                _tick(work, "rerandomize", t)
                ctx.sub("part", i).send(msg.BACKWARD_MASKED, {"input_grad": ing}, to=h.party)
        for h in net.hosts:
            assert h.lay is not None
            ints = pr.ints_from_wire(
                ctx.recv(msg.BACKWARD_UNMASKED, frm=h.party), h.dim * out, "backward_unmasked", party
            )
            vals = np.empty(len(ints), dtype=object)
            vals[:] = ints
            g = np.ldexp(np.array([float(v) for v in vals - masks[h.party]]), -h.lay.scale)
            h.weight -= p.interactive_layer_lr * g.reshape(h.dim, out)

    def _head(self, net: _Net, xb: Any, z_a: Any, train: bool, p: HeteroNNParams) -> Any:
        """The guest's part of the network: z = α̃_B·W_B + z_A + b → activation → top."""
        z = z_a + net.bias
        if net.w_b is not None:
            alpha = net.bottom(xb) if net.bottom is not None else xb
            il = p.interactive_layer_define
            if train:
                mask = pr.dropout_mask(net.gen, tuple(alpha.shape), il.dropout if il is not None else None)
                if mask is not None:
                    alpha = alpha * mask
            z = z + alpha @ net.w_b
        return net.top(net.act(z))

    # -- fit ------------------------------------------------------------------------------------------
    def fit(
        self, ctx: Context, train: Frame, validate: Frame | None = None, init: HeteroNNModel | None = None
    ) -> HeteroNNModel:
        """Train with the hosts; returns the guest's model.

        Raises
        ------
        DataError
            No label, labels the loss cannot use, rows not aligned with a host's.
        MessageError
            A malformed message from a host.
        """
        hosts: list[_Host] = []
        try:
            return self._fit(ctx, train, validate, init, hosts)
        finally:
            _close(hosts)

    def _fit(
        self,
        ctx: Context,
        train: Frame,
        validate: Frame | None,
        init: HeteroNNModel | None,
        hosts: list[_Host],
    ) -> HeteroNNModel:
        """:meth:`fit` (``hosts`` collects the live host states, for closing their re-randomisers)."""
        import torch

        p = coerce_params(self.params)
        party = str(ctx.party)
        if train.label is None:
            raise DataError("the guest's training data has no label", party=party, field="label")
        il = p.interactive_layer_define
        if il is None:
            raise DataError(
                "the guest needs an interactive_layer_define", party=party, field="interactive_layer_define"
            )
        out = il.out_dim
        sent0, recv0 = ctx.stats.total_sent, ctx.stats.total_received
        net, arch = self._start(
            ctx, p, train, validate, init, hosts, out, party
        )  # HOST_SETUP, PUBLIC_KEY, SETUP
        y, classes = _targets(
            p, np.asarray(train.label), list(init.classes) if init is not None and init.classes else None
        )
        task, names = _task_metrics(p, classes)
        stopper = EarlyStopping(p.stopping_rounds, names, p.use_first_metric_only, task)
        x = torch.from_numpy(np.ascontiguousarray(train.features, dtype=np.float64))
        sel_rng = np.random.default_rng(
            p.selector_param.random_state if p.selector_param.random_state is not None else p.effective_seed
        )
        work = pr.Work()
        history: dict[str, list[Any]] = {"loss": [], "validation": [], "selected": []}
        seconds: list[float] = []
        converged = False
        kept: dict[str, Any] | None = None
        command = _Commander(ctx)
        for epoch in range(p.epochs):
            t0 = time.perf_counter()
            sctx = command("epoch", epoch=epoch)
            total, selected = self._train_epoch(sctx, p, net, train.n_rows, x, y, out, work, sel_rng, epoch)
            loss = total / train.n_rows
            if not math.isfinite(loss):
                raise DataError(
                    f"the training loss is {loss} at epoch {epoch}: lower the learning rates",
                    party=party,
                    field="optimizer",
                )
            history["loss"].append(loss)
            history["selected"].append(selected)
            seconds.append(time.perf_counter() - t0)
            stop = False
            if validate is not None and p.validates_at(epoch):
                # COMMAND "validate" (+ its prediction exchange), then COMMAND "keep" on a new best
                stop, snapshot = self._validate_epoch(
                    command, p, net, validate, classes, out, work, names, task, stopper, history, epoch
                )
                if snapshot is not None:
                    kept = snapshot
            if p.early_stop != "none" and len(history["loss"]) >= 2:
                diff = abs(history["loss"][-1] - history["loss"][-2])
                if (p.early_stop == "diff" and diff < p.tol) or (p.early_stop == "abs" and loss < p.tol):
                    converged = stop = True
            if stop:
                break
        restore = kept is not None and stopper.best_epoch is not None and stopper.rounds is not None
        command("stop", restore=restore)
        if restore and kept is not None:
            self._restore(net, kept)
        best = stopper.best_epoch if restore else len(history["loss"]) - 1
        return self._model(
            ctx, p, train, net, arch, classes, history, best, converged, work, seconds, sent0, recv0
        )

    def _model(
        self,
        ctx: Context,
        p: HeteroNNParams,
        train: Frame,
        net: _Net,
        arch: dict[str, Any],
        classes: list[Any],
        history: dict[str, list[Any]],
        best: int | None,
        converged: bool,
        work: pr.Work,
        seconds: list[float],
        sent0: int,
        recv0: int,
    ) -> HeteroNNModel:
        """The guest's model: its networks, the noised host weights, history and work counters."""
        w = work.record(seconds, ctx, sent0, recv0)
        return HeteroNNModel(
            role="guest",
            task_type=p.task_type,
            loss=p.loss_name,
            bottom=arch["bottom"],
            top=arch["top"],
            interactive=arch["spec"],
            weights=self._weights(net),
            feature_names=list(train.feature_names),
            classes=classes,
            hosts=[str(h.party) for h in net.hosts],
            threshold=p.predict_param.threshold,
            history=history,
            best_epoch=best,
            converged=converged,
            work=w,
        )

    def _start(
        self,
        ctx: Context,
        p: HeteroNNParams,
        train: Frame,
        validate: Frame | None,
        init: HeteroNNModel | None,
        hosts: list[_Host],
        out: int,
        party: str,
    ) -> tuple[_Net, dict[str, Any]]:
        """Exchange the setup with the hosts, then build the networks (a warm start loads its weights)."""
        hinfo = self._setup(ctx, p, train, validate, out)
        host_dims = [d for _, d in hinfo.values()]
        net, arch = self._build(p, train.n_features, host_dims, party)
        net.hosts = [_Host(h, k, d, w) for (h, (k, d)), w in zip(hinfo.items(), arch["hw"], strict=True)]
        hosts.extend(net.hosts)
        for host in net.hosts:
            host.prepare(p.precision_bits, out, party)
        if init is not None:
            self._load(net, init)
        return net, arch

    def _train_epoch(
        self,
        sctx: Context,
        p: HeteroNNParams,
        net: _Net,
        n_rows: int,
        x: Any,
        y: Any,
        out: int,
        work: pr.Work,
        sel_rng: np.random.Generator,
        epoch: int,
    ) -> tuple[float, int]:
        """One epoch's batches; returns the summed per-row loss and how many rows were back-propagated."""
        total, selected = 0.0, 0
        for b, idx in enumerate(pr.batches(n_rows, p.batch_size, p.effective_seed, epoch)):
            loss_sum, n_sel = self._train_batch(sctx.sub("batch", b), p, net, x, y, idx, out, work, sel_rng)
            total += loss_sum
            selected += n_sel
        return total, selected

    def _train_batch(
        self,
        bctx: Context,
        p: HeteroNNParams,
        net: _Net,
        x: Any,
        y: Any,
        idx: np.ndarray,
        out: int,
        work: pr.Work,
        sel_rng: np.random.Generator,
    ) -> tuple[float, int]:
        """Forward exchange, the guest's loss and step, backward exchange; returns (loss sum, rows kept)."""
        import torch

        rows = len(idx)
        z_np = self._forward(bctx, p, net, rows, out, work)
        z_a = torch.from_numpy(z_np).requires_grad_(True)
        output = self._head(net, x[idx], z_a, True, p)
        losses = _per_sample_loss(p.loss_name, output, y[idx])
        if p.selector_param.method == "relative":
            sel = select_rows(
                losses.detach().numpy(), p.selector_param.beta, p.selector_param.min_prob, sel_rng
            )
        else:
            sel = np.arange(rows)
        net.opt.zero_grad(set_to_none=True)
        if net.opt_i is not None:
            net.opt_i.zero_grad(set_to_none=True)
        losses[torch.from_numpy(sel)].mean().backward()
        assert z_a.grad is not None
        delta = z_a.grad.numpy()
        self._backward(bctx, p, net, rows, out, sel, delta, work)
        net.opt.step()
        if net.opt_i is not None:
            net.opt_i.step()
        return float(losses.detach().sum()), len(sel)

    def _validate_epoch(
        self,
        command: _Commander,
        p: HeteroNNParams,
        net: _Net,
        validate: Frame,
        classes: list[Any],
        out: int,
        work: pr.Work,
        names: list[str],
        task: str,
        stopper: EarlyStopping,
        history: dict[str, list[Any]],
        epoch: int,
    ) -> tuple[bool, dict[str, Any] | None]:
        """Score the validation data with the hosts; returns whether to stop and, on a new best
        epoch, a snapshot of the weights (the hosts are told to keep theirs too)."""
        vctx = command("validate")
        pred = self._predict_frame(vctx, p, net, validate, classes, out, work)
        values = compute_metrics(names, task, np.asarray(pred.label), pred.score, pred.result)
        history["validation"].append({"epoch": epoch, **values})
        stop = stopper.update(epoch, values)
        if stopper.best_epoch == epoch:
            command("keep")
            return stop, self._snapshot(net)
        return stop, None

    # -- state ----------------------------------------------------------------------------------------
    @staticmethod
    def _weights(net: _Net) -> dict[str, np.ndarray]:
        w: dict[str, np.ndarray] = {}
        if net.bottom is not None:
            w.update({f"bottom.{k}": v.detach().numpy().copy() for k, v in net.bottom.state_dict().items()})
        w.update({f"top.{k}": v.detach().numpy().copy() for k, v in net.top.state_dict().items()})
        if net.w_b is not None:
            w["interactive.guest_weight"] = net.w_b.detach().numpy().copy()
        w["interactive.bias"] = net.bias.detach().numpy().copy()
        for i, h in enumerate(net.hosts):
            w[f"interactive.host_weight.{i}"] = h.weight.copy()
        return w

    def _snapshot(self, net: _Net) -> dict[str, Any]:
        return self._weights(net)

    @staticmethod
    def _restore(net: _Net, w: Mapping[str, np.ndarray]) -> None:
        import torch

        def part(prefix: str) -> dict[str, Any]:
            return {
                k[len(prefix) :]: torch.from_numpy(v.copy()) for k, v in w.items() if k.startswith(prefix)
            }

        with torch.no_grad():
            if net.bottom is not None:
                net.bottom.load_state_dict(part("bottom."))
            net.top.load_state_dict(part("top."))
            if net.w_b is not None:
                net.w_b.copy_(torch.from_numpy(w["interactive.guest_weight"]))
            net.bias.copy_(torch.from_numpy(w["interactive.bias"]))
        for i, h in enumerate(net.hosts):
            h.weight = w[f"interactive.host_weight.{i}"].copy()

    def _load(self, net: _Net, init: HeteroNNModel) -> None:
        self._restore(net, init.weights)

    # -- predict --------------------------------------------------------------------------------------
    def _predict_frame(
        self,
        ctx: Context,
        p: HeteroNNParams,
        net: _Net,
        frame: Frame,
        classes: list[Any],
        out: int,
        work: pr.Work,
    ) -> Predictions:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(frame.features, dtype=np.float64))
        outs = []
        if net.bottom is not None:
            net.bottom.eval()
        net.top.eval()
        with torch.no_grad():
            for b, i in enumerate(range(0, frame.n_rows, pr.PREDICT_BATCH)):
                rows = min(pr.PREDICT_BATCH, frame.n_rows - i)
                z_a = torch.from_numpy(self._forward(ctx.sub("batch", b), p, net, rows, out, work))
                outs.append(self._head(net, x[i : i + rows], z_a, False, p))
        if net.bottom is not None:
            net.bottom.train()
        net.top.train()
        o = torch.cat(outs).numpy() if outs else np.zeros((0, 1))
        return _predictions(p.task_type, p.loss_name, o, frame, classes, p.predict_param.threshold)

    def predict(self, ctx: Context, model: HeteroNNModel, frame: Frame) -> Predictions:
        """Predictions for ``frame`` (every host runs :meth:`HeteroNNHost.predict` at once)."""
        import torch

        p = coerce_params(self.params)
        party = str(ctx.party)
        check_prediction_input(
            model, frame, "guest", "the guest predicts with the guest's HeteroNN model", party
        )
        spec = model.interactive
        out = int(spec["out_dim"])
        hinfo = self._setup(ctx, p, frame, None, out)
        bottom = pr.build_module(model.bottom, 0) if model.bottom else None
        top = pr.build_module(model.top, 0)
        w_b = (
            torch.from_numpy(model.weights["interactive.guest_weight"])
            if "interactive.guest_weight" in model.weights
            else None
        )
        act_name = ACTIVATIONS[str(spec["activation"])]
        act = getattr(torch.nn, act_name)() if act_name else torch.nn.Identity()
        net = _Net(
            bottom, top, w_b, torch.from_numpy(model.weights["interactive.bias"]), act, None, None, None
        )
        self._restore_stored(net, model)
        net.hosts = [
            _Host(h, k, d, model.weights[f"interactive.host_weight.{i}"])
            for i, (h, (k, d)) in enumerate(hinfo.items())
        ]
        p2 = p.model_copy(update={"task_type": model.task_type})
        try:
            for host in net.hosts:
                host.prepare(p.precision_bits, out, party)
            return self._predict_frame(
                ctx.sub("predict"), p2, net, frame, list(model.classes), out, pr.Work()
            )
        finally:
            _close(net.hosts)

    @staticmethod
    def _restore_stored(net: _Net, model: HeteroNNModel) -> None:
        import torch

        if net.bottom is not None:
            net.bottom.load_state_dict({k: torch.from_numpy(v) for k, v in model.part("bottom").items()})
        net.top.load_state_dict({k: torch.from_numpy(v) for k, v in model.part("top").items()})


def _tick(work: pr.Work, phase: str, since: float) -> None:
    work.seconds[phase] = work.seconds.get(phase, 0.0) + time.perf_counter() - since


def _close(hosts: list[_Host]) -> None:
    for h in hosts:
        if h.obf is not None:
            h.obf.close()


def _predictions(
    task_type: str, loss: str, out: np.ndarray, frame: Frame, classes: list[Any], threshold: float
) -> Predictions:
    """The top model's output as FATE's predictions (binary, multi-class or values)."""
    label = None if frame.label is None else np.asarray(frame.label)
    if task_type == "regression":
        v = out[:, 0].astype(np.float64)
        return Predictions(frame.ids, v, v, label, "regression")
    if out.shape[1] == 1:
        s = out[:, 0] if loss != "BCEWithLogitsLoss" else 1.0 / (1.0 + np.exp(-out[:, 0]))
        cls = classes if len(classes) == 2 else [0, 1]
        result = np.where(s > threshold, cls[1], cls[0])
        return Predictions(frame.ids, s, result, label, "binary", list(cls))
    if loss == "NLLLoss":
        probs = np.exp(out)
    else:
        row_sum = out.sum(axis=1, keepdims=True)
        is_prob = np.all(out >= 0) and np.allclose(row_sum, 1.0)
        probs = out if is_prob else np.exp(out - out.max(axis=1, keepdims=True))
        probs = probs / probs.sum(axis=1, keepdims=True)
    result = np.asarray(classes)[probs.argmax(axis=1)]
    if probs.shape[1] == 2:
        return Predictions(frame.ids, probs[:, 1], result, label, "binary", list(classes))
    return Predictions(frame.ids, probs, result, label, "multi", list(classes))
