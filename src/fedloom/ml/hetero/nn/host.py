"""The host's side of Hetero NN: its bottom model, its Paillier key and its accumulated noise.

:meth:`HeteroNNHost.fit` reads in message order (:mod:`.messages`); see :mod:`fedloom.ml.hetero.nn`
for the protocol and what each party learns.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import DataError, MessageError
from fedloom.crypto.cipher import generate_keypair
from fedloom.data.frame import Frame
from fedloom.ml.hetero.alignment import check_aligned, ids_digest
from fedloom.ml.hetero.nn import messages as msg
from fedloom.ml.hetero.nn import protocol as pr
from fedloom.ml.hetero.nn.model import HeteroNNModel
from fedloom.ml.hetero.nn.params import HeteroNNParams
from fedloom.ml.hetero.nn.role import HeteroNNRole, check_prediction_input, coerce_params
from fedloom.ml.torch_layers import in_width, make_optimizer, out_width


class _HostState:
    """The host's live training state: bottom model, optimiser, key, ε_acc."""

    def __init__(self, p: HeteroNNParams, salt: int, n_features: int, party: str) -> None:
        import torch

        layers = p.bottom_layers()
        if not layers:
            raise DataError("the host needs a bottom_nn_define", party=party, field="bottom_nn_define")
        width = in_width(layers)
        if width is not None and width != n_features:
            raise DataError(
                f"the bottom model takes {width} inputs; the host's data has {n_features} features",
                party=party,
                field="bottom_nn_define",
            )
        self.layers = layers
        self.bottom = pr.build_module(layers, p.effective_seed + salt)
        self.opt = make_optimizer(
            self.bottom.parameters(),
            p.optimizer.optimizer,
            lr=p.optimizer_lr,
            weight_decay=p.optimizer.weight_decay,
            momentum=p.optimizer.momentum,
            extra=p.optimizer.extra(),
            owner="HeteroNN",
            field="optimizer",
        )
        self.gen = torch.Generator().manual_seed(p.effective_seed + 1000 + salt)
        dim = out_width(layers)
        il = p.interactive_layer_define
        if il is not None and il.host_dim is not None:
            dim = il.host_dim
        if dim is None:
            raise DataError(
                "the host's bottom model must end in a Linear layer", party=party, field="bottom_nn_define"
            )
        self.dim = int(dim)


class HeteroNNHost(HeteroNNRole):
    """Host role of Hetero NN: owns a bottom model and a Paillier key; never sees labels.

    Parameters
    ----------
    params
        :class:`~.params.HeteroNNParams` or a FATE-style dict.
    executor
        Where encryption runs (default: :func:`fedloom.compute.default_executor`).
    """

    # -- fit ------------------------------------------------------------------------------------------
    def fit(
        self, ctx: Context, train: Frame, validate: Frame | None = None, init: HeteroNNModel | None = None
    ) -> HeteroNNModel:
        """Train with the guest; returns the host's model (bottom weights and ε_acc).

        Raises
        ------
        DataError
            Rows not aligned with the guest's, a bottom model that does not fit the data.
        MessageError
            A malformed message from the guest; nothing is decrypted unless it has exactly the
            expected key, length and scale.
        """
        import torch

        p = coerce_params(self.params)
        party = str(ctx.party)
        salt = 1 + ctx.hosts.index(ctx.party)
        st = _HostState(p, salt, train.n_features, party)
        work = pr.Work()
        if init is not None:
            self._load(st, init)
        sent0, recv0 = ctx.stats.total_sent, ctx.stats.total_received
        ep = p.encrypt_param
        pk, sk = generate_keypair(ep.method, ep.key_length)
        _send_setup(ctx, train, validate, st.dim, pk)  # HOST_SETUP, PUBLIC_KEY
        setup = _check_setup(ctx, train, validate, party)  # SETUP
        out = int(setup["out_dim"])
        lay = _layout(pk, setup, st.dim, out, party)
        acc = _start_acc(init, st.dim, out, party)
        x = torch.from_numpy(np.ascontiguousarray(train.features, dtype=np.float64))
        kept: tuple[dict[str, Any], np.ndarray] | None = None
        seconds: list[float] = []
        step = 0
        while True:
            sctx = ctx.sub("step", step)
            step += 1
            cmd = sctx.recv(msg.COMMAND)
            op = cmd.get("op") if isinstance(cmd, dict) else None
            if op == "epoch":
                t0 = time.perf_counter()
                epoch = int(cmd["epoch"])
                acc = self._train_epoch(sctx, p, st, lay, pk, sk, x, train.n_rows, epoch, acc, work, party)
                seconds.append(time.perf_counter() - t0)
            elif op == "validate":
                assert validate is not None
                self._forward_only(sctx, st, lay, pk, sk, validate, acc, work, party)
            elif op == "keep":
                kept = ({k: v.detach().clone() for k, v in st.bottom.state_dict().items()}, acc.copy())
            elif op == "stop":
                if cmd.get("restore") and kept is not None:
                    st.bottom.load_state_dict(kept[0])
                    acc = kept[1]
                break
            else:
                raise MessageError(f"unknown command {op!r} from the guest", party=party, field="command")
        return _model(ctx, p, st, train, out, acc, work, seconds, sent0, recv0)

    def _train_epoch(
        self,
        sctx: Context,
        p: HeteroNNParams,
        st: _HostState,
        lay: pr.Layout,
        pk: Any,
        sk: Any,
        x: Any,
        n_rows: int,
        epoch: int,
        acc: np.ndarray,
        work: pr.Work,
        party: str,
    ) -> np.ndarray:
        """One epoch's batches in the guest's order (same seed); returns the updated ε_acc."""
        st.bottom.train()
        for b, idx in enumerate(pr.batches(n_rows, p.batch_size, p.effective_seed, epoch)):
            acc = self._train_batch(sctx.sub("batch", b), p, st, lay, pk, sk, x[idx], acc, work, party)
        return acc

    @staticmethod
    def _load(st: _HostState, init: HeteroNNModel) -> None:
        import torch

        state = {k: torch.from_numpy(v) for k, v in init.part("bottom").items()}
        st.bottom.load_state_dict(state)

    # -- one batch ------------------------------------------------------------------------------------
    def _send_forward(
        self, ctx: Context, lay: pr.Layout, sk: Any, alpha: np.ndarray, acc: np.ndarray, work: pr.Work
    ) -> None:
        """``[α̃]`` packed ``rows_per_ct`` rows per ciphertext (K blocks of groups) and ``[ε_acc]``
        packed as the input-gradient bases (O × in_chunks × in_rows ciphertexts: base ``(j, c, r)``
        holds ``ε_acc[k, j]`` of chunk ``c``'s features at row ``r``'s slots)."""
        t = time.perf_counter()
        packed = pr.pack(pr.fixed(alpha, lay.precision), lay.rows_per_ct, lay.slot)
        acc_int = pr.fixed(acc, lay.precision)
        chunk, width = lay.in_chunk, lay.in_slot
        for j in range(lay.out_dim):
            for c in range(lay.in_chunks):
                ks = range(c * chunk, min((c + 1) * chunk, lay.host_dim))
                for r in range(lay.in_rows):
                    packed.append(
                        sum(int(acc_int[k, j]) << (width * (chunk * r + k - c * chunk)) for k in ks)
                    )
        enc = pr.encrypt_ints(sk, packed, self.executor, work)
        split = len(packed) - lay.out_dim * lay.in_chunks * lay.in_rows
        work.seconds["encrypt"] = work.seconds.get("encrypt", 0.0) + time.perf_counter() - t
        ctx.send(msg.HOST_FORWARD, {"alpha": enc[:split], "acc": enc[split:]})

    def _unmask_forward(
        self,
        ctx: Context,
        lay: pr.Layout,
        pk: Any,
        sk: Any,
        alpha: np.ndarray,
        acc: np.ndarray,
        work: pr.Work,
        party: str,
    ) -> None:
        rows, out, per = alpha.shape[0], lay.out_dim, lay.rows_per_ct
        groups = lay.groups(rows)
        slots = np.empty((out, groups * per), dtype=object)
        for j in range(out):  # one message per output unit (the guest computes the next meanwhile)
            masked = pr.check_vector(
                ctx.sub("part", j).recv(msg.FORWARD_MASKED), pk, groups, 0, "forward_masked", party
            )
            t = time.perf_counter()
            raw = sk.decrypt_packed_raw(masked)
            work.decryptions += len(raw)
            work.seconds["decrypt"] = work.seconds.get("decrypt", 0.0) + time.perf_counter() - t
            slots[j] = [v for u in raw for v in pr.unpack(u, per, lay.slot)]
        z = slots.reshape(out, groups * per)[:, :rows] + pr.fixed((alpha @ acc).T, lay.scale)
        ctx.send(msg.FORWARD_UNMASKED, pr.ints_to_wire(z.ravel().tolist()))

    def _train_batch(
        self,
        ctx: Context,
        p: HeteroNNParams,
        st: _HostState,
        lay: pr.Layout,
        pk: Any,
        sk: Any,
        xb: Any,
        acc: np.ndarray,
        work: pr.Work,
        party: str,
    ) -> np.ndarray:
        import torch

        il = p.interactive_layer_define
        alpha_t = st.bottom(xb)
        mask = pr.dropout_mask(st.gen, tuple(alpha_t.shape), il.dropout if il is not None else None)
        if mask is not None:
            alpha_t = alpha_t * mask
        alpha = alpha_t.detach().numpy()
        rows, out = alpha.shape[0], lay.out_dim
        self._send_forward(ctx, lay, sk, alpha, acc, work)
        self._unmask_forward(ctx, lay, pk, sk, alpha, acc, work, party)
        back = ctx.recv(msg.BACKWARD_MASKED)
        if not isinstance(back, dict):
            raise MessageError("malformed backward message", party=party, field="backward_masked")
        sel = back.get("rows")
        try:
            sel_idx = np.arange(rows) if sel is None else np.asarray(sel, dtype=np.int64)
        except (TypeError, ValueError):
            raise MessageError("malformed backward rows", party=party, field="backward_masked") from None
        if (
            sel_idx.ndim != 1
            or (len(sel_idx) and (sel_idx.min() < 0 or sel_idx.max() >= rows))
            or len(np.unique(sel_idx)) != len(sel_idx)
        ):
            raise MessageError("backward rows out of range", party=party, field="backward_masked")
        per, m = lay.rows_per_ct, len(sel_idx)
        grad = pr.check_vector(back.get("grad"), pk, st.dim * out * per, 0, "backward_masked.grad", party)
        t = time.perf_counter()
        raw = sk.decrypt_packed_raw(grad)
        work.decryptions += len(raw)
        work.seconds["decrypt"] = work.seconds.get("decrypt", 0.0) + time.perf_counter() - t
        # Ciphertext (k, j, r) holds rows r, r + R, ... of Σ α̃δ in its slot r.
        low = (1 << lay.slot) - 1
        sums = [
            sum((raw[i * per + r] >> (lay.slot * r)) & low for r in range(per)) for i in range(st.dim * out)
        ]
        # Fresh noise η: the guest's update W' -= lr·(G + η/lr) moves W' by −η, which ε_acc absorbs.
        rng = np.random.default_rng(secrets.randbits(128))
        eta = rng.uniform(-pr.NOISE, pr.NOISE, size=(st.dim, out))
        noise = pr.fixed(eta / p.interactive_layer_lr, lay.scale).ravel().tolist()
        ctx.send(msg.BACKWARD_UNMASKED, pr.ints_to_wire([a + b for a, b in zip(sums, noise, strict=True)]))
        # The input gradients of the selected rows, in parts.
        g_in = np.zeros((m, st.dim))
        for i, (a, b) in enumerate(pr.input_parts(m, lay)):
            part = ctx.sub("part", i).recv(msg.BACKWARD_MASKED)
            count = lay.in_chunks * lay.in_groups(b - a)
            ing = pr.check_vector(
                part.get("input_grad") if isinstance(part, dict) else None,
                pk,
                count,
                0,
                "backward_masked.input_grad",
                party,
            )
            t = time.perf_counter()
            raw_in = sk.decrypt_packed_raw(ing)
            work.decryptions += len(raw_in)
            work.seconds["decrypt"] = work.seconds.get("decrypt", 0.0) + time.perf_counter() - t
            g_in[a:b] = pr.decode_input(raw_in, lay, b - a)
        # Bottom backward with the input gradient of the selected rows (pre-update weights).
        st.opt.zero_grad(set_to_none=True)
        gfull = torch.zeros_like(alpha_t)
        gfull[torch.from_numpy(sel_idx)] = torch.from_numpy(np.ascontiguousarray(g_in))
        alpha_t.backward(gfull)
        st.opt.step()
        return acc + eta

    def _forward_only(
        self,
        ctx: Context,
        st: _HostState,
        lay: pr.Layout,
        pk: Any,
        sk: Any,
        frame: Frame,
        acc: np.ndarray,
        work: pr.Work,
        party: str,
    ) -> None:
        import torch

        st.bottom.eval()
        x = torch.from_numpy(np.ascontiguousarray(frame.features, dtype=np.float64))
        with torch.no_grad():
            for b, i in enumerate(range(0, frame.n_rows, pr.PREDICT_BATCH)):
                bctx = ctx.sub("batch", b)
                alpha = st.bottom(x[i : i + pr.PREDICT_BATCH]).numpy()
                self._send_forward(bctx, lay, sk, alpha, acc, work)
                self._unmask_forward(bctx, lay, pk, sk, alpha, acc, work, party)
        st.bottom.train()

    # -- predict --------------------------------------------------------------------------------------
    def predict(self, ctx: Context, model: HeteroNNModel, frame: Frame) -> None:
        """Send this host's part of the forward pass for ``frame`` (the guest gets the predictions)."""
        import torch

        p = coerce_params(self.params)
        party = str(ctx.party)
        check_prediction_input(model, frame, "host", "a host predicts with a host's HeteroNN model", party)
        bottom = pr.build_module(model.bottom, 0)
        bottom.load_state_dict({k: torch.from_numpy(v) for k, v in model.part("bottom").items()})
        acc = model.weights["interactive.acc_noise"]
        out = int(model.interactive["out_dim"])
        ep = p.encrypt_param
        pk, sk = generate_keypair(ep.method, ep.key_length)
        ctx.send(
            msg.HOST_SETUP,
            {
                "ids": ids_digest(frame.ids),
                "rows": frame.n_rows,
                "validate_ids": None,
                "validate_rows": 0,
                "out_dim": acc.shape[0],
                "features": frame.n_features,
            },
        )
        ctx.send(msg.PUBLIC_KEY, pk)
        setup = ctx.recv(msg.SETUP)
        if not isinstance(setup, dict):
            raise MessageError("malformed setup from the guest", party=party, field="setup")
        check_aligned(ids_digest(frame.ids), str(setup.get("ids")), party, str(ctx.guest), "prediction")
        lay = _layout(pk, setup, acc.shape[0], out, party)
        fake = _Bottom(bottom)
        self._forward_only(ctx.sub("predict"), fake, lay, pk, sk, frame, acc, pr.Work(), party)  # type: ignore[arg-type]


def _send_setup(ctx: Context, train: Frame, validate: Frame | None, dim: int, pk: Any) -> None:
    """HOST_SETUP (row digests and the bottom model's width), then PUBLIC_KEY, to the guest."""
    ctx.send(
        msg.HOST_SETUP,
        {
            "ids": ids_digest(train.ids),
            "rows": train.n_rows,
            "validate_ids": ids_digest(validate.ids) if validate is not None else None,
            "validate_rows": validate.n_rows if validate is not None else 0,
            "out_dim": dim,
            "features": train.n_features,
        },
    )
    ctx.send(msg.PUBLIC_KEY, pk)


def _check_setup(ctx: Context, train: Frame, validate: Frame | None, party: str) -> dict[str, Any]:
    """SETUP from the guest: well formed, and its rows align with ours."""
    setup = ctx.recv(msg.SETUP)
    if not isinstance(setup, dict) or not isinstance(setup.get("out_dim"), int) or setup["out_dim"] < 1:
        raise MessageError("malformed setup from the guest", party=party, field="setup")
    check_aligned(ids_digest(train.ids), str(setup.get("ids")), party, str(ctx.guest), "training")
    if validate is not None:
        check_aligned(
            ids_digest(validate.ids), str(setup.get("validate_ids")), party, str(ctx.guest), "validation"
        )
    return setup


def _start_acc(init: HeteroNNModel | None, dim: int, out: int, party: str) -> np.ndarray:
    """ε_acc: zero for a fresh fit, the stored noise for a warm start (its shape must match)."""
    acc = np.zeros((dim, out)) if init is None else init.weights["interactive.acc_noise"].copy()
    if acc.shape != (dim, out):
        raise DataError("the warm-start model's interactive shape differs", party=party, field="model")
    return acc


def _model(
    ctx: Context,
    p: HeteroNNParams,
    st: _HostState,
    train: Frame,
    out: int,
    acc: np.ndarray,
    work: pr.Work,
    seconds: list[float],
    sent0: int,
    recv0: int,
) -> HeteroNNModel:
    """The host's model: its bottom weights and ε_acc (the guest never sees either)."""
    weights = {
        f"bottom.{k}": v.detach().numpy().astype(np.float64) for k, v in st.bottom.state_dict().items()
    }
    weights["interactive.acc_noise"] = acc
    w = work.record(seconds, ctx, sent0, recv0)
    return HeteroNNModel(
        role="host",
        task_type=p.task_type,
        loss=p.loss_name,
        bottom=st.layers,
        interactive={"host_dim": st.dim, "out_dim": out},
        weights=weights,
        feature_names=list(train.feature_names),
        work=w,
    )


def _layout(pk: Any, setup: Mapping[str, Any], dim: int, out: int, party: str) -> pr.Layout:
    """The packing layout for this host's key, at the guest's ``floating_point_precision``."""
    precision = setup.get("precision")
    if not isinstance(precision, int) or isinstance(precision, bool) or not 8 <= precision <= 52:
        raise MessageError("the guest's setup has no valid precision", party=party, field="setup.precision")
    if setup.get("out_dim") != out:
        raise MessageError("the guest's interactive out_dim differs", party=party, field="setup.out_dim")
    return pr.Layout(int(pk.n).bit_length(), precision, dim, out).check(party)


class _Bottom:
    """A stored bottom model in the shape :meth:`HeteroNNHost._forward_only` reads."""

    def __init__(self, bottom: Any) -> None:
        self.bottom = bottom
