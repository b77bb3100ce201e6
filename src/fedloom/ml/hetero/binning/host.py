"""A host's side of hetero feature binning: its own bins, and encrypted label sums per bin.

:meth:`HeteroBinningHost.fit` reads in message order (:mod:`.messages`): host setup → local
bins → setup, key, ``[y]`` → histograms → host bins → groups (optimal) → WOE (if asked). See
:mod:`fedloom.ml.hetero.binning` for the protocol and what each party learns.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from fedloom.compute import parallel_histograms, parallel_pack
from fedloom.context import Context
from fedloom.core.errors import ConfigError, MessageError
from fedloom.crypto.paillier import Packer
from fedloom.crypto.paillier.packing import capacity_bits
from fedloom.data.frame import Frame
from fedloom.ml.feature.optimal import merge_bins
from fedloom.ml.hetero.alignment import check_aligned, check_rows, ids_digest
from fedloom.ml.hetero.binning import messages as msg
from fedloom.ml.hetero.binning import records
from fedloom.ml.hetero.binning.local import BinningRole, Clock, LocalBins, fit_local
from fedloom.ml.hetero.binning.model import BinningModel, ColumnResult, Work
from fedloom.ml.hetero.binning.params import HeteroFeatureBinningParams

log = logging.getLogger(__name__)


class HeteroBinningHost(BinningRole):
    """Host role of hetero feature binning: bins its columns, sums the guest's [y] per bin.

    Parameters
    ----------
    params
        :class:`~.params.HeteroFeatureBinningParams` or a FATE-style dict (the host's own:
        its ``bin_indexes``, ``method``, ``transform_param`` …).
    """

    def fit(self, ctx: Context, frame: Frame) -> BinningModel:
        """Bin this host's columns; with the guest, get them scored without seeing the label.

        Returns
        -------
        BinningModel
            Own columns (bins; WOE when the guest returned it), their anonymous names, work
            counters and seconds per phase. The host never holds the counts of its bins' labels.

        Raises
        ------
        ConfigError
            A bad parameter, or ``optimal`` with a label of more than two classes.
        DataError
            Rows not aligned with the guest's.
        MessageError
            A malformed message from the guest (names it).
        """
        p = self.checked_params()
        party, pid = str(ctx.party), ctx.party.id
        clock = Clock()
        work = Work()
        names = p.selected(frame.feature_names)
        anonymous = {n: records.anonymous_name(pid, frame.feature_names.index(n)) for n in names}
        exchange = not (p.local_only or p.skip_static)
        digest = ids_digest(frame.ids)
        if exchange:  # first, so the guest prepares its key and [y] while this host bins
            ctx.send(msg.HOST_SETUP, records.HostSetup(digest, frame.n_rows, len(names)).to_wire())
        with clock.phase("bin"):
            local = fit_local(p, frame)
        model = BinningModel(
            method=p.method,
            bin_num=p.bin_num,
            columns={n: ColumnResult(b) for n, b in zip(local.names, local.bins, strict=True)},
            anonymous=anonymous,
            work=work,
            seconds=clock.seconds,
        )
        if not exchange or not names:
            return model
        guest = str(ctx.guest)
        setup = _check_setup(ctx, p, digest, frame, party, guest)  # SETUP
        pk, cap = _recv_key(ctx, p, setup, guest)  # PUBLIC_KEY
        with clock.phase("labels_wait"):
            enc = records.expect_labels(ctx.recv(msg.ENC_LABELS), pk, setup.n_rows, guest)
        work.ciphertexts_received += len(enc)

        with clock.phase("histogram"):
            counts, derived, sums = _label_sums(local, enc, len(names))
        with clock.phase("pack"):
            n_slots = cap // setup.sum_bits
            packed = parallel_pack(Packer(setup.sum_bits, n_slots), sums)
        woe_wanted = self._woe_wanted(p, frame, local, setup)
        optimal = self._optimal_request(p, local, anonymous)
        bins_msg = records.HostBins(
            columns=[anonymous[n] for n in names],
            n_bins=local.n_bins,
            counts=np.concatenate(counts).astype(np.int64),
            derived=derived,
            woe=[anonymous[n] for n in woe_wanted],
            optimal=optimal,
            sums=packed,
        )
        ctx.send(msg.HOST_BINS, bins_msg.to_wire())
        work.ciphertexts_sent += len(packed)

        if optimal is not None:
            _merge_groups(ctx, model, local, names, anonymous, optimal, guest)  # HOST_GROUPS
        if woe_wanted:
            _take_woe(ctx, model, woe_wanted, anonymous, guest)  # HOST_WOE
        return model

    @staticmethod
    def _woe_wanted(
        p: HeteroFeatureBinningParams, frame: Frame, local: LocalBins, setup: records.Setup
    ) -> list[str]:
        """The binned columns this host transforms by WOE (binary labels only: a multi-class
        label has one WOE per class, and the transform refuses it)."""
        if p.transform_param.transform_type != "woe" or setup.n_classes > 2:
            return []
        wanted = set(p.transformed(frame.feature_names))
        return [n for n in local.names if n in wanted]

    @staticmethod
    def _optimal_request(
        p: HeteroFeatureBinningParams, local: LocalBins, anonymous: dict[str, str]
    ) -> records.OptimalRequest | None:
        """Optimal binning: ask the guest to merge the fine bins of the numeric columns."""
        if p.method != "optimal":
            return None
        merge = [
            anonymous[n]
            for n, b in zip(local.names, local.bins, strict=True)
            if not b.is_categorical and b.n_value_bins > 0
        ]
        if not merge:
            return None
        missing = [anonymous[n] for n, b in zip(local.names, local.bins, strict=True) if b.has_missing]
        return records.OptimalRequest(
            p.bin_num, p.optimal_binning_param.model_dump(), merge, [m for m in missing if m in merge]
        )


def _check_setup(
    ctx: Context, p: HeteroFeatureBinningParams, digest: str, frame: Frame, party: str, guest: str
) -> records.Setup:
    """SETUP from the guest: rows aligned with ours, and a label optimal binning can merge by."""
    setup = records.Setup.from_wire(ctx.recv(msg.SETUP), guest)
    check_aligned(digest, setup.ids, party, guest, "binning")
    check_rows(setup.n_rows, frame.n_rows, guest)
    if p.method == "optimal" and setup.n_classes > 2:
        raise ConfigError(
            "The 'method' parameter of HeteroFeatureBinning cannot be 'optimal' with a label of "
            f"{setup.n_classes} classes: optimal binning merges by binary label counts.",
            party=party,
            field="method",
        )
    return setup


def _recv_key(
    ctx: Context, p: HeteroFeatureBinningParams, setup: records.Setup, guest: str
) -> tuple[Any, int]:
    """PUBLIC_KEY from the guest, and its capacity, which must hold one packed label sum."""
    ep = p.encrypt_param
    pk = ctx.recv_public_key(msg.PUBLIC_KEY, scheme=ep.method, min_bits=ep.key_length)
    cap = capacity_bits(pk)
    if setup.sum_bits > cap:
        raise MessageError(
            f"setup from {guest}: label sums of {setup.sum_bits} bits do not fit the key's {cap} bits",
            party=guest,
            field="slot_bits",
        )
    return pk, cap


def _label_sums(local: LocalBins, enc: Any, n_columns: int) -> tuple[list[np.ndarray], np.ndarray, Any]:
    """Rows per bin, each column's most frequent bin (left out of the sums), and [Σy] per other bin."""
    n_bins = local.n_bins
    counts = [np.bincount(local.index[:, j], minlength=int(n_bins[j])) for j in range(n_columns)]
    # The most frequent bin (sparse data: the zero bin) is derived by the guest from its totals.
    derived = np.asarray([int(np.argmax(c)) for c in counts], dtype=np.int64)
    # Over the party's configured executor (fedloom.compute): identical sums, any backend.
    sums = parallel_histograms(enc, local.index, n_bins, None, skip=derived)
    return counts, derived, sums


def _merge_groups(
    ctx: Context,
    model: BinningModel,
    local: LocalBins,
    names: list[str],
    anonymous: dict[str, str],
    optimal: records.OptimalRequest,
    guest: str,
) -> None:
    """HOST_GROUPS: merge each numeric column's fine bins as the guest's optimal binning chose."""
    by_anon = {anonymous[n]: n for n in names}
    fine = {a: local.bins[names.index(by_anon[a])].n_value_bins for a in optimal.merge}
    groups = records.expect_groups(ctx.recv(msg.HOST_GROUPS), guest, fine)
    for a, last in groups.items():
        name = by_anon[a]
        model.columns[name] = ColumnResult(merge_bins(model.columns[name].bins, last))


def _take_woe(
    ctx: Context, model: BinningModel, woe_wanted: list[str], anonymous: dict[str, str], guest: str
) -> None:
    """HOST_WOE: the guest's WOE per bin of the columns this host transforms."""
    sizes = {anonymous[n]: model.columns[n].bins.n_bins for n in woe_wanted}
    woe = records.expect_woe(ctx.recv(msg.HOST_WOE), guest, sizes)
    for n in woe_wanted:
        model.columns[n] = ColumnResult(model.columns[n].bins, woe_from_guest=True, woe=woe[anonymous[n]])
