"""The guest's side of hetero feature binning: labels, key, and the scores of every column.

:meth:`HeteroBinningGuest.fit` reads in message order (:mod:`.messages`): host setups → setup,
key and ``[y]`` to the hosts that bin → its own columns → per host: bins, decryption, scores,
groups and WOE back. See :mod:`fedloom.ml.hetero.binning` for the protocol and what each party
learns.
"""

from __future__ import annotations

import logging

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import ConfigError, CryptoError, FedloomError, MessageError
from fedloom.core.roles import PartyId
from fedloom.crypto.cipher import generate_keypair
from fedloom.crypto.paillier import Packer
from fedloom.crypto.paillier.packing import capacity_bits
from fedloom.data.frame import Frame
from fedloom.ml.feature.optimal import OptimalBinningParams, merge_bins
from fedloom.ml.hetero.alignment import check_aligned, ids_digest
from fedloom.ml.hetero.binning import messages as msg
from fedloom.ml.hetero.binning import records
from fedloom.ml.hetero.binning.local import (
    BinningRole,
    Clock,
    check_columns,
    fit_local,
    label_classes,
    label_counts,
    optimal_from_counts,
    stat_counts,
    stats_from,
)
from fedloom.ml.hetero.binning.model import BinningModel, ColumnResult, HostColumnResult, Work
from fedloom.ml.hetero.binning.params import HeteroFeatureBinningParams

log = logging.getLogger(__name__)


def host_label(party: PartyId) -> str:
    """How the model names a host: ``host-<party id>``."""
    return f"{party.role.value}-{party.id}"


class HeteroBinningGuest(BinningRole):
    """Guest role of hetero feature binning: owns the labels and the key, scores every column.

    Parameters
    ----------
    params
        :class:`~.params.HeteroFeatureBinningParams` or a FATE-style dict.
    """

    def fit(self, ctx: Context, frame: Frame) -> BinningModel:
        """Bin the guest's columns and score them and the hosts' against the label.

        Returns
        -------
        BinningModel
            Own columns (bins and statistics), the hosts' columns by anonymous name
            (statistics), work counters, seconds per phase and bytes.

        Raises
        ------
        ConfigError
            A bad parameter (names the field), ``optimal`` with more than two classes, or label
            slots that do not fit the key.
        DataError
            No label, or rows not aligned with a host's.
        MessageError
            A malformed or inconsistent message from a host (names the host); nothing of it is
            decrypted unless it has exactly the expected shape.
        """
        p = self.checked_params()
        party = str(ctx.party)
        clock = Clock()
        sent0, recv0 = ctx.stats.total_sent, ctx.stats.total_received
        classes, codes = label_classes(frame.label, party)
        n_classes = len(classes)
        _check_optimal_classes(p, n_classes, party)
        check_columns(p, frame.feature_names)  # a bad bin_names fails here, before any message
        work = Work()
        exchange = not (p.local_only or p.skip_static)
        hosts = ctx.hosts if exchange else []
        digest = ids_digest(frame.ids)
        setups = _host_setups(ctx, hosts, digest, party)
        active = [h for h in hosts if setups[h].n_columns > 0]

        keys = None
        if active:
            keys = self._send_labels(ctx, p, frame, active, codes, classes, digest, work, clock)

        with clock.phase("bin"):
            columns = _fit_own_columns(p, frame, codes, classes)

        host_columns: dict[str, HostColumnResult] = {}
        if keys is not None:
            pk, sk, setup = keys
            totals = stat_counts(np.bincount(codes, minlength=n_classes).reshape(1, -1), classes)[0]
            for h in active:
                host_columns.update(
                    self._host(ctx, p, h, setups[h].n_columns, pk, sk, setup, classes, totals, work, clock)
                )
        model = BinningModel(
            method=p.method,
            bin_num=p.bin_num,
            classes=classes,
            multi_class=n_classes > 2,
            columns=columns,
            host_columns=host_columns,
            work=work,
            seconds=clock.seconds,
        )
        model.traffic = {
            "sent": ctx.stats.total_sent - sent0,
            "received": ctx.stats.total_received - recv0,
        }
        return model

    # -- setup, key and labels --------------------------------------------------------------------
    def _send_labels(
        self,
        ctx: Context,
        p: HeteroFeatureBinningParams,
        frame: Frame,
        active: list[PartyId],
        codes: np.ndarray,
        classes: list[object],
        digest: str,
        work: Work,
        clock: Clock,
    ) -> tuple[object, object, records.Setup]:
        """SETUP, PUBLIC_KEY and ENC_LABELS (one encryption of [y], sent to every active host)."""
        n = frame.n_rows
        setup = records.Setup(digest, n, len(classes), n.bit_length())
        ep = p.encrypt_param
        with clock.phase("keygen"):
            pk, sk = generate_keypair(ep.method, ep.key_length)
        if setup.sum_bits > capacity_bits(pk):
            raise ConfigError(
                f"{setup.label_slots} label slots of {setup.slot_bits} bits do not fit a {ep.key_length}-bit "
                f"key ({capacity_bits(pk)} usable bits): use a longer key or fewer classes",
                party=str(ctx.party),
                field="encrypt_param.key_length",
            )
        ctx.send(msg.SETUP, setup.to_wire(), to=active)
        ctx.send(msg.PUBLIC_KEY, pk, to=active)
        with clock.phase("encrypt"):
            if setup.label_slots == 1:
                m = stat_counts(np.eye(len(classes), dtype=np.int64)[codes], classes)[:, 1]
                plaintexts: list[int] | np.ndarray = m.astype(np.int64)
            else:
                onehot = np.zeros((n, len(classes)), dtype=np.int64)
                onehot[np.arange(n), codes] = 1
                plaintexts = Packer(setup.slot_bits, len(classes)).pack(onehot)
            enc = sk.encrypt_ints(plaintexts)  # the key owner encrypts by CRT
        work.encryptions += len(enc)
        ctx.send(msg.ENC_LABELS, enc, to=active)
        work.ciphertexts_sent += len(enc) * len(active)
        return pk, sk, setup

    # -- one host ---------------------------------------------------------------------------------
    def _host(
        self,
        ctx: Context,
        p: HeteroFeatureBinningParams,
        host: PartyId,
        n_columns: int,
        pk: object,
        sk: object,
        setup: records.Setup,
        classes: list[object],
        totals: np.ndarray,
        work: Work,
        clock: Clock,
    ) -> dict[str, HostColumnResult]:
        """HOST_BINS from ``host``: check, decrypt, derive, score; HOST_GROUPS and HOST_WOE back."""
        sender = str(host)
        n_slots = capacity_bits(pk) // setup.sum_bits
        hb = _receive_host_bins(ctx, host, n_columns, pk, setup, n_slots, clock)
        work.ciphertexts_received += len(hb.sums)
        with clock.phase("decrypt"):
            plain = sk.decrypt_packed_raw(hb.sums)  # type: ignore[attr-defined]
            work.decryptions += len(hb.sums)
        sums = _unpack_sums(plain, setup, n_slots, hb.n_sums, sender)

        with clock.phase("woe"):
            matrices = _host_counts(hb, sums, setup, totals, sender)
            out: dict[str, HostColumnResult] = {}
            opt = hb.optimal
            groups = _merge_host_columns(opt, matrices, setup, p, sender) if opt is not None else {}
            for name in hb.columns:
                m = matrices[name]
                out[name] = HostColumnResult(
                    host_label(host), len(m), stats_from(m, classes, p.adjustment_factor)
                )
        if opt is not None:
            ctx.send(msg.HOST_GROUPS, groups, to=host)
        if hb.woe:
            _send_host_woe(ctx, host, hb, out, setup, sender)
        return out


def _check_optimal_classes(p: HeteroFeatureBinningParams, n_classes: int, party: str) -> None:
    """Refuse ``optimal`` on a multi-class label before any message: it merges by binary counts."""
    if p.method == "optimal" and n_classes > 2:
        raise ConfigError(
            "The 'method' parameter of HeteroFeatureBinning cannot be 'optimal' with more than two "
            f"label classes (got {n_classes}): optimal binning merges by binary label counts.",
            party=party,
            field="method",
        )


def _host_setups(
    ctx: Context, hosts: list[PartyId], digest: str, party: str
) -> dict[PartyId, records.HostSetup]:
    """Each host's HOST_SETUP, refusing a host whose rows are not aligned with ours."""
    setups = {h: records.HostSetup.from_wire(ctx.recv(msg.HOST_SETUP, frm=h), str(h)) for h in hosts}
    for h, s in setups.items():
        check_aligned(digest, s.ids, party, str(h), "binning")
    return setups


def _fit_own_columns(
    p: HeteroFeatureBinningParams, frame: Frame, codes: np.ndarray, classes: list[object]
) -> dict[str, ColumnResult]:
    """Bin and score the guest's own columns in the clear: the guest holds the label."""
    local = fit_local(p, frame)
    columns: dict[str, ColumnResult] = {}
    for j, (name, bins) in enumerate(zip(local.names, local.bins, strict=True)):
        counts = label_counts(local.index[:, j], bins.n_bins, codes, len(classes))
        if p.skip_static:
            columns[name] = ColumnResult(bins)
            continue
        m = stat_counts(counts, classes)
        if p.method == "optimal" and not bins.is_categorical:
            groups, m = optimal_from_counts(
                m, bins.n_value_bins, p.bin_num, p.optimal_binning_param, p.adjustment_factor
            )
            bins = merge_bins(bins, groups)
        columns[name] = ColumnResult(bins, stats_from(m, classes, p.adjustment_factor))
    return columns


def _receive_host_bins(
    ctx: Context,
    host: PartyId,
    n_columns: int,
    pk: object,
    setup: records.Setup,
    n_slots: int,
    clock: Clock,
) -> records.HostBins:
    """The host's HOST_BINS, checked against the expected shape before anything is decrypted."""
    sender = str(host)
    with clock.phase("host_histograms_wait"):
        raw = ctx.recv(msg.HOST_BINS, frm=host)
    return records.HostBins.from_wire(
        raw,
        sender,
        party_id=host.id,
        n_columns=n_columns,
        n_rows=setup.n_rows,
        public_key=pk,
        slots_per_ciphertext=n_slots,
    )


def _merge_host_columns(
    opt: records.OptimalRequest,
    matrices: dict[str, np.ndarray],
    setup: records.Setup,
    p: HeteroFeatureBinningParams,
    sender: str,
) -> dict[str, np.ndarray]:
    """Optimal merging of the host columns it asked for; ``matrices`` get the merged counts.

    Returns the last fine bin of each merged group per column, for HOST_GROUPS; any failure is
    the host's message's fault, so it is raised as a :class:`MessageError` naming the host.
    """
    if setup.n_classes > 2:
        raise MessageError(
            f"host_bins from {sender}: optimal merging needs a binary label",
            party=sender,
            field="optimal",
        )
    try:
        params = OptimalBinningParams.from_dict(opt.params)
    except ConfigError as exc:
        raise MessageError(
            f"host_bins from {sender}: bad optimal_binning_param ({exc})",
            party=sender,
            field="optimal",
        ) from None
    groups: dict[str, np.ndarray] = {}
    for name in opt.merge:
        m = matrices[name]
        n_value = len(m) - (name in opt.missing)
        try:
            last, matrices[name] = optimal_from_counts(m, n_value, opt.bin_num, params, p.adjustment_factor)
        except FedloomError as exc:
            raise MessageError(
                f"host_bins from {sender}: cannot merge {name} ({exc})",
                party=sender,
                field="optimal",
            ) from None
        groups[name] = np.asarray(last, dtype=np.int64)
    return groups


def _send_host_woe(
    ctx: Context,
    host: PartyId,
    hb: records.HostBins,
    out: dict[str, HostColumnResult],
    setup: records.Setup,
    sender: str,
) -> None:
    """HOST_WOE: the WOE of the columns the host will transform (defined for a binary label only)."""
    if setup.n_classes > 2:
        raise MessageError(
            f"host_bins from {sender}: WOE transform needs a binary label", party=sender, field="woe"
        )
    woe = {name: np.asarray(out[name].stats.woe, dtype=np.float64) for name in hb.woe}  # type: ignore[union-attr]
    ctx.send(msg.HOST_WOE, woe, to=host)


def _unpack_sums(
    plain: list[int], setup: records.Setup, n_slots: int, n_sums: int, sender: str
) -> np.ndarray:
    """``(n_sums, label_slots)`` label sums from the decrypted packed plaintexts."""
    try:
        packed = Packer(setup.sum_bits, n_slots).unpack(plain, n_cols=n_slots)
        flat = [int(v) for v in packed.reshape(-1).tolist()]
        if any(flat[n_sums:]):
            raise CryptoError("padding slots are not zero")
        flat = flat[:n_sums]
        if setup.label_slots == 1:
            return np.asarray(flat, dtype=np.int64).reshape(-1, 1)
        return (
            Packer(setup.slot_bits, setup.label_slots).unpack(flat, n_cols=setup.label_slots).astype(np.int64)
        )
    except CryptoError as exc:
        raise MessageError(
            f"host_bins from {sender}: the packed label sums do not decode ({exc})",
            party=sender,
            field="sums",
        ) from None


def _host_counts(
    hb: records.HostBins, sums: np.ndarray, setup: records.Setup, totals: np.ndarray, sender: str
) -> dict[str, np.ndarray]:
    """Per host column, the counts WOE needs (binary: non-event / event; else per class), with
    the derived bin filled in as total − Σ other bins; refuses counts that cannot be."""
    binary = setup.label_slots == 1
    out: dict[str, np.ndarray] = {}
    pos = 0  # into sums
    start = 0  # into hb.counts
    for name, nb, derived in zip(hb.columns, hb.n_bins.tolist(), hb.derived.tolist(), strict=True):
        counts = hb.counts[start : start + nb]
        start += nb
        kept = [b for b in range(nb) if b != derived]
        events = np.zeros((nb, sums.shape[1]), dtype=np.int64)
        events[kept] = sums[pos : pos + len(kept)]
        pos += len(kept)
        if derived >= 0:
            wanted = totals[1:2] if binary else totals
            events[derived] = wanted - events[kept].sum(axis=0)
        m = np.column_stack([counts - events[:, 0], events[:, 0]]) if binary else events
        bad = (m < 0).any() or (not binary and np.any(m.sum(axis=1) != counts))
        if bad:
            raise MessageError(
                f"host_bins from {sender}: the label sums of {name} do not fit its bin counts",
                party=sender,
                field="sums",
            )
        out[name] = m
    return out
