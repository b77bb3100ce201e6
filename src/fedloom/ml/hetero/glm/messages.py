"""Hetero GLM messages, in the order they are sent, and the one-time-pad masks of gradients.

Setup (once per fit)::

    PUBLIC_KEY        arbiter → guest, hosts   the job's public key (Paillier or plain)
    HOST_WEIGHTS      host → arbiter           the host's weight count (what it may have decrypted)
    SETUP             guest → hosts, arbiter   id digest, rows, batch plan, models (classes),
                                               the guest's weight count, validation digest
    HOST_SETUP        host → guest             the host's id digest(s) and feature count
    ENC_LABEL         guest → hosts            Poisson only: [y], encrypted once

Per model (class) ``k``, epoch ``e`` (namespace ``class-k/epoch-e``), ``batch_strategy: random`` only::

    EPOCH_PLAN        guest → hosts            the row positions of this epoch's random batch

Per model (class) ``k``, epoch ``e``, batch ``b`` (namespace ``class-k/epoch-e/batch-b``)::

    ZEROS             arbiter → hosts, guest   fresh encryptions of 0, one per row (obfuscators=arbiter;
                                               Paillier: the guest may get fewer and make the rest)
    HOST_FORWARD      host → guest             [¼·w_hᵀx_h] (LR), [w_hᵀx_h] (LinR), [exp(w_hᵀx_h)] (Poisson)
    RESIDUAL          guest → hosts            [d], one per row
    HOST_LOSS         host → guest             [host's loss terms, n_b·penalty_h]
    MASKED_GRADIENT   guest, hosts → arbiter   [n_b·g + m] with m uniform in Z_n, re-randomised (rⁿ)
    UNMASKED_GRADIENT arbiter → guest, hosts   n_b·g + m mod n, as fixed-width bytes
    LOSS              guest → arbiter          [n_b·loss_b], re-randomised (rⁿ)

``optimizer: sqn`` only (:mod:`.sqn`), after a batch's step, namespace ``…/batch-b`` and
``…/batch-b/sqn-i`` for the secure sums::

    SQN_MASK          guest → hosts            uniform masks of the host's secure-sum shares
    SQN_SHARE         guest, hosts → arbiter   own inner products + mask (mod 2¹²⁸)
    SQN_SUM           arbiter → guest, hosts   the global inner products of the two-loop recursion
    SQN_SAMPLE        guest → hosts            the Hessian sample's row positions (curvature pair)
    HVP_FORWARD       host → guest             [c·X_h,S s_h]
    HVP_RESIDUAL      guest → hosts            [z] = [c·X_S s]
    MASKED_HVP        guest, hosts → arbiter   [X_pᵀz + m], re-randomised (rⁿ)
    UNMASKED_HVP      arbiter → guest, hosts   X_pᵀz + m mod n

Per epoch (namespace ``class-k/epoch-e``)::

    WEIGHT_DIFF       guest, hosts → arbiter   ‖Δw‖² of the epoch (early_stop = weight_diff only)
    CONVERGED         arbiter → guest, hosts   whether to stop
    VALIDATE_FORWARD  host → guest             w_hᵀx_h on the validation rows (validation epochs)
    VALIDATION_STOP   guest → hosts, arbiter   early stopping on the validation metric

Predict::

    PREDICT_SETUP     guest → hosts            id digest of the rows to predict
    PREDICT_FORWARD   host → guest             w_hᵀx_h per row and model, in the clear (as in FATE)

Each channel's ``disclosure`` states what its receiver learns in clear; the module docstring of
:mod:`fedloom.ml.hetero.glm` explains each. Values received from peers are validated into typed
records by :mod:`.records` (a :class:`~fedloom.core.errors.MessageError` naming the sender).
"""

from __future__ import annotations

import random
import secrets

import numpy as np

from fedloom.context import Channel, NamespacePath
from fedloom.core import ARBITER, GUEST, HOST
from fedloom.core.errors import MessageError
from fedloom.crypto.paillier import EncryptedVector, PlainVector
from fedloom.crypto.paillier.encoding import centre
from fedloom.ml.hetero.glm.ciphers import PublicKey, Vector, vector_like

#: How every role nests a fit: one model (class) ``class-k``, its epochs, their batches.
CLASS = NamespacePath("class")
EPOCH = CLASS.then("epoch")
BATCH = EPOCH.then("batch")

PUBLIC_KEY = Channel(
    "public_key", src=ARBITER, dst=(GUEST, HOST), disclosure="the job's public key (n); nothing else"
)
SETUP = Channel(
    "setup",
    src=GUEST,
    dst=(HOST, ARBITER),
    disclosure="row count, batch plan (row positions of each batch), number of models, the guest's "
    "weight count, SHA-256 digests of the training / validation id lists",
)
HOST_SETUP = Channel(
    "host_setup",
    src=HOST,
    dst=GUEST,
    disclosure="the host's id-list digests and its feature count",
)
HOST_WEIGHTS = Channel(
    "host_weights", src=HOST, dst=ARBITER, disclosure="the host's number of weights (its feature count)"
)
ENC_LABEL = Channel(
    "enc_label", src=GUEST, dst=HOST, disclosure="ciphertext only ([y], Poisson; [s·y] with sample weights)"
)
EPOCH_PLAN = Channel(
    "epoch_plan",
    src=GUEST,
    dst=HOST,
    disclosure="the row positions of this epoch's random batch (batch_strategy: random; what SETUP's "
    "batch plan tells under batch_strategy: full)",
)
ZEROS = Channel(
    "zeros", src=ARBITER, dst=(GUEST, HOST), disclosure="ciphertext only (fresh encryptions of 0)"
)
HOST_FORWARD = Channel(
    "host_forward", src=HOST, dst=GUEST, disclosure="ciphertext only ([u_h] per row of the batch)"
)
RESIDUAL = Channel(
    "residual", src=GUEST, dst=HOST, disclosure="ciphertext only ([d], or [s·d] with sample weights, per row)"
)
HOST_LOSS = Channel("host_loss", src=HOST, dst=GUEST, disclosure="ciphertext only (the host's loss terms)")
MASKED_GRADIENT = Channel(
    "masked_gradient",
    src=(GUEST, HOST),
    dst=ARBITER,
    disclosure="Xᵀd + uniform mask, re-randomised with a uniform rⁿ: nothing (uniform residues mod n)",
)
UNMASKED_GRADIENT = Channel(
    "unmasked_gradient",
    src=ARBITER,
    dst=(GUEST, HOST),
    disclosure="own gradient Xᵀd of the batch, once the mask is removed (host: X_hᵀd, with batch "
    "rows ≤ its features + 1 it could solve for d, hence y: refused unless allow_small_batches; "
    "guest: its intercept entry Σd reveals Σ_h w_hᵀx_h over the batch (LR, LinR), and X_gᵀd "
    "the hosts' scores weighted by its features)",
)
LOSS = Channel(
    "loss",
    src=GUEST,
    dst=ARBITER,
    disclosure="the batch loss n_b·loss_b (penalties included), re-randomised: the arbiter learns "
    "the loss of every batch",
)
WEIGHT_DIFF = Channel(
    "weight_diff",
    src=(GUEST, HOST),
    dst=ARBITER,
    disclosure="the sender's ‖Δw‖² of the epoch, in clear (early_stop: weight_diff only)",
)
CONVERGED = Channel(
    "converged", src=ARBITER, dst=(GUEST, HOST), disclosure="whether training stops (one boolean)"
)
VALIDATE_FORWARD = Channel(
    "validate_forward",
    src=HOST,
    dst=GUEST,
    disclosure="w_hᵀx_h of every validation row, in clear (as in FATE)",
)
VALIDATION_STOP = Channel(
    "validation_stop",
    src=GUEST,
    dst=(HOST, ARBITER),
    disclosure="whether the validation metric stopped training (one boolean)",
)
PREDICT_SETUP = Channel(
    "predict_setup", src=GUEST, dst=HOST, disclosure="row count and id-list digest of the rows to predict"
)
PREDICT_FORWARD = Channel(
    "predict_forward",
    src=HOST,
    dst=GUEST,
    disclosure="w_hᵀx_h of every predicted row and model, in clear (as in FATE)",
)

#: ``optimizer: sqn`` (:mod:`.sqn`): the secure sums of one step, ``class-k/epoch-e/batch-b/sqn-i``.
SQN_ROUND = BATCH.then("sqn")
SQN_SAMPLE = Channel(
    "sqn_sample",
    src=GUEST,
    dst=HOST,
    disclosure="the row positions of the Hessian sample of a curvature pair (sqn; refused when not "
    "larger than the host's features + 1 unless allow_small_batches)",
)
HVP_FORWARD = Channel(
    "hvp_forward", src=HOST, dst=GUEST, disclosure="ciphertext only ([c·X_h,S s_h] per sample row, sqn)"
)
HVP_RESIDUAL = Channel(
    "hvp_residual", src=GUEST, dst=HOST, disclosure="ciphertext only ([z] = [c·X_S s] per sample row, sqn)"
)
MASKED_HVP = Channel(
    "masked_hvp",
    src=(GUEST, HOST),
    dst=ARBITER,
    disclosure="X_pᵀz + uniform mask, re-randomised with a uniform rⁿ: nothing (uniform residues mod n)",
)
UNMASKED_HVP = Channel(
    "unmasked_hvp",
    src=ARBITER,
    dst=(GUEST, HOST),
    disclosure="own Hessian product X_p,Sᵀz of the curvature pair once unmasked (sqn; host: with sample "
    "rows ≤ its features + 1 it could solve for z, refused; guest: its intercept entry Σz reveals "
    "Σ_S c·X_h,S s_h, one scalar per pair)",
)
SQN_MASK = Channel(
    "sqn_mask",
    src=GUEST,
    dst=HOST,
    disclosure="uniform masks mod 2¹²⁸ for the host's secure-sum shares (sqn): nothing",
)
SQN_SHARE = Channel(
    "sqn_share",
    src=(GUEST, HOST),
    dst=ARBITER,
    disclosure="one party's inner products plus a mask mod 2¹²⁸, each share uniform alone; their sum "
    "is the global inner product (sqn: sᵀy, yᵀy per pair, sᵢᵀq, yᵢᵀr per step)",
)
SQN_SUM = Channel(
    "sqn_sum",
    src=ARBITER,
    dst=(GUEST, HOST),
    disclosure="the global sums over all parties of the L-BFGS inner products (a few scalars per step, sqn)",
)

#: Fixed-point scale of the hosts' forwards and of ``[d]`` (LR, LinR): 32 fractional bits.
FORWARD_FRAC_BITS = 32


class Masker:
    r"""One-time pads for the gradients a party sends to the arbiter, re-randomised last.

    A party holding :math:`[G]` (fixed point, scale :math:`2^f`) adds an encryption of a mask
    :math:`m` drawn uniformly from :math:`\mathbb{Z}_n`; the arbiter decrypts
    :math:`r = G + m\,2^f \bmod n`, which is uniform in :math:`\mathbb{Z}_n` whatever :math:`G`
    (:math:`2^f` is a unit mod :math:`n`): the arbiter learns nothing about the gradient, not even
    its size. The party recovers :math:`G = r - m\,2^f \bmod n` exactly (then centres it and
    checks that it did not overflow).

    The plaintext is not the only thing the key owner reads: it can also compute residue
    characters of each ciphertext's randomness, and the randomness of :math:`[G]` is the
    randomness of :math:`[d]` (which contains the arbiter's own encryptions of zero) raised to the
    encoded features. So :meth:`mask` ends with
    :meth:`~fedloom.crypto.paillier.EncryptedVector.rerandomize` (a fresh :math:`r^n`, :math:`r`
    uniform in :math:`\mathbb{Z}_n^*`), after which each ciphertext is distributed exactly as a
    fresh encryption of its (uniform) plaintext. One exponentiation per gradient element.

    Parameters
    ----------
    public_key
        The job's key (Paillier or plain).
    seed
        Tests only: deterministic masks from this seed (default: the OS CSPRNG). Derive one seed
        per party and model: two parties with the same masks would let the arbiter subtract them.
    """

    def __init__(self, public_key: PublicKey, seed: int | str | None = None) -> None:
        self.pk = public_key
        self.n = int(public_key.n)
        self._rng = None if seed is None else random.Random(seed)

    def _draw(self, count: int) -> list[int]:
        if self._rng is None:
            return [secrets.randbelow(self.n) for _ in range(count)]
        return [self._rng.randrange(self.n) for _ in range(count)]

    def mask(self, enc: Vector) -> tuple[Vector, list[int]]:
        """``[G + m·2^f]``, re-randomised, and the effective masks ``m·2^f mod n``."""
        masks = self._draw(len(enc))
        masked = (enc + self.pk.encrypt_ints(masks)).rerandomize()
        scale = 1 << masked.frac_bits
        return masked, [m * scale % self.n for m in masks]

    def unmask(self, residues: list[int], masks: list[int], frac_bits: int) -> list[float]:
        """The gradient values ``G / 2^f`` from the arbiter's residues (overflow checked)."""
        if len(residues) != len(masks):
            raise MessageError(
                f"the arbiter returned {len(residues)} values for {len(masks)} masked ones",
                field="unmasked_gradient",
            )
        signed = centre([(r - m) % self.n for r, m in zip(residues, masks, strict=True)], self.n)
        scale = 1 << frac_bits
        return [v / scale for v in signed]

    def open(self, raw: object, masks: list[int], frac_bits: int, sender: str) -> np.ndarray:
        """The gradient ``G`` from the arbiter's ``UNMASKED_GRADIENT`` (size, range, overflow checked)."""
        residues = residues_from_bytes(raw, self.n, len(masks), sender)
        return np.asarray(self.unmask(residues, masks, frac_bits))


def _whose(field: str, sender: str | None) -> str:
    return f"{field} from {sender}" if sender else field


def expect_cipher(
    value: object, public_key: PublicKey, length: int, field: str, sender: str | None = None
) -> Vector:
    """Check a received ciphertext vector: right type, key and length.

    Raises
    ------
    MessageError
        Naming the sender (``party``) and the message (``field``).
    """
    where = _whose(field, sender)
    if not isinstance(value, EncryptedVector | PlainVector):
        raise MessageError(
            f"{where}: expected a ciphertext vector. Got {type(value).__name__}.", party=sender, field=field
        )
    if value.public_key != public_key:
        raise MessageError(
            f"{where}: ciphertexts under another key than the job's", party=sender, field=field
        )
    if len(value) != length:
        raise MessageError(
            f"{where}: {len(value)} ciphertexts where {length} were expected", party=sender, field=field
        )
    return value


def with_scale(zeros: Vector, frac_bits: int) -> Vector:
    """The same encryptions of zero read at another scale (0·2^f = 0 at every f: no work)."""
    return vector_like(zeros, zeros.ciphertexts, frac_bits)


def residues_to_bytes(values: list[int], n: int) -> bytes:
    """Fixed-width big-endian residues (width of ``n``) in one buffer."""
    width = (n.bit_length() + 7) // 8
    return b"".join(int(v).to_bytes(width, "big") for v in values)


def residues_from_bytes(buf: object, n: int, count: int, sender: str | None = None) -> list[int]:
    """Parse :func:`residues_to_bytes` output received from the arbiter, checking size and range."""
    field = "unmasked_gradient"
    if not isinstance(buf, bytes | bytearray | memoryview):
        raise MessageError(
            f"unmasked gradients must arrive as bytes. Got {type(buf).__name__}.", party=sender, field=field
        )
    width = (n.bit_length() + 7) // 8
    view = bytes(buf)
    if len(view) != width * count:
        raise MessageError(
            f"unmasked gradients: {len(view)} bytes for {count} values of {width} bytes",
            party=sender,
            field=field,
        )
    out = [int.from_bytes(view[i : i + width], "big") for i in range(0, len(view), width)]
    if any(v >= n for v in out):
        raise MessageError("unmasked gradients: a value is not below n", party=sender, field=field)
    return out
