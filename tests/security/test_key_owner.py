r"""Findings 4 and 5: what the key owner (the arbiter) can read from what it is asked to decrypt.

Finding 4 — residue characters. A Paillier ciphertext is :math:`c = (1 + mn)\,\rho \bmod n^2`
with :math:`\rho` an :math:`n`-th residue, and :math:`c \equiv \rho \pmod p` because
:math:`1 + mn \equiv 1`. Whoever knows :math:`p` can evaluate any multiplicative character
:math:`\chi` of :math:`\mathbb{Z}_p^*` on the randomness of every ciphertext it sees. The masked
gradient :math:`[X^Td + m]` has randomness :math:`\prod_i \rho(d_i)^{k_{ij}}\cdot\rho_{mask}`
(:math:`k_{ij}` the encoded features), so :math:`\chi` of it is *linear in the features* modulo
the character's order, plus whatever :math:`\rho_{mask}` adds. The arbiter made the encryptions
of zero inside :math:`[d]`, so it knows :math:`\chi(\rho(d_i))`. A fixed-base (DJN) obfuscator
:math:`h_s^a` only moves :math:`\chi` along the one direction :math:`\chi(h)`; with two cubic
characters (mod :math:`p` and mod :math:`q`) the arbiter finds that direction and projects it
away, recovering :math:`k_{ij} \bmod 3` — a binary feature exactly (:math:`2^{23} \equiv 2`).
A fresh :math:`r^n` with :math:`r` uniform in :math:`\mathbb{Z}_n^*` makes the randomness uniform
over all :math:`n`-th residues, so every character is uniform: the attack drops to chance.

Finding 5 — the arbiter must decrypt only what the protocol expects: one vector per party and
batch, of exactly that party's weight count. A host that submits its residual ``[d]`` as its
"masked gradient" must be refused, or the arbiter would hand it ``d`` and with it the labels.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from typing import Any

import gmpy2
import numpy as np
import pytest

from fedloom.core import PartyId
from fedloom.core.errors import MessageError
from fedloom.crypto.paillier import EncryptedVector, PaillierPrivateKey, PaillierPublicKey
from fedloom.crypto.paillier import generate_keypair as paillier_keypair
from fedloom.crypto.paillier.parallel import get_num_workers, set_num_workers
from fedloom.data.frame import Frame
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams
from fedloom.testing import run_parties

G, H, A = PartyId.parse("guest:9999"), PartyId.parse("host:10000"), PartyId.parse("arbiter:10000")


@pytest.fixture(autouse=True)
def _one_worker() -> Iterator[None]:
    previous = get_num_workers()
    set_num_workers(1)
    yield
    set_num_workers(previous)


# -- the cubic-character attack ------------------------------------------------------------------
class Cubic:
    """Cubic residue character of Z_p^* (p ≡ 1 mod 3), as a discrete log in Z_3."""

    def __init__(self, p: Any) -> None:
        self.p = gmpy2.mpz(p)
        self.e = (self.p - 1) // 3
        g = gmpy2.mpz(2)
        while gmpy2.powmod(g, self.e, self.p) == 1:
            g += 1
        self.omega = gmpy2.powmod(g, self.e, self.p)  # a primitive cube root of unity

    def __call__(self, u: Any) -> int:
        v = gmpy2.powmod(gmpy2.mpz(u) % self.p, self.e, self.p)
        if v == 1:
            return 0
        return 1 if v == self.omega else 2


@pytest.fixture(scope="module")
def cubic_key() -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """A 1024-bit key with p ≡ q ≡ 1 (mod 3): both primes carry a cubic character (1 key in 4)."""
    while True:
        pk, sk = paillier_keypair(1024)
        if sk.p % 3 == 1 and sk.q % 3 == 1:
            return pk, sk


class CharacterArbiter:
    """The curious key owner: makes encryptions of zero with chosen characters, reads them back."""

    def __init__(self, pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
        self.pk, self.n, self.n2 = pk, int(pk.n), int(pk.nsquare)
        self.chi = (Cubic(sk.p), Cubic(sk.q))

    def chars(self, c: Any) -> tuple[int, int]:
        """(χ_p, χ_q) of a ciphertext's randomness: c mod p = ρ mod p since 1 + mn ≡ 1 (mod p)."""
        return self.chi[0](c), self.chi[1](c)

    def zero(self, want: tuple[int, int]) -> Any:
        """rⁿ mod n², an honest-looking encryption of 0 whose r has the characters ``want``."""
        while True:
            r = secrets.randbelow(self.n - 2) + 2
            if math.gcd(r, self.n) == 1 and self.chars(r) == want:
                return gmpy2.powmod(r, self.n, self.n2)  # χ(rⁿ) = χ(r)ⁿ = χ(r): n ≡ 1 (mod 3)

    def zeros(self, count: int, special: int | None = None, c: tuple[int, int] = (0, 0)) -> EncryptedVector:
        """Zeros whose randomness is a cube (trivial characters), except row ``special`` (``c``)."""
        return EncryptedVector(self.pk, [self.zero(c if i == special else (0, 0)) for i in range(count)], 0)


def host_batch(
    arb: CharacterArbiter,
    host_pk: PaillierPublicKey,
    x: np.ndarray,
    special: int | None,
    c: tuple[int, int],
    mask: Any,
) -> list[Any]:
    """One batch as the protocol runs it, up to what the arbiter decrypts from the host.

    Arbiter zeros → host forward → guest residual (its own zero added) → host ``[d]ᵀX`` → ``mask``.
    """
    n_b = x.shape[0]
    rng = np.random.default_rng(0)
    f = 0.25 * (x @ rng.normal(size=x.shape[1]))
    fw = msg.with_scale(arb.zeros(n_b, special, c), msg.FORWARD_FRAC_BITS) + f  # host → guest
    part = rng.normal(size=n_b) * 0.3  # ¼·w_gᵀx_g − ½·y
    d = fw + part
    d = d + msg.with_scale(arb.zeros(n_b), d.frac_bits)  # guest → host
    d = EncryptedVector(host_pk, d.ciphertexts, d.frac_bits)  # as the host holds it
    grad = d.dot(x, precision_bits=23)
    return mask(grad).ciphertexts


def attack(arb: CharacterArbiter, host_pk: PaillierPublicKey, x: np.ndarray, mask: Any) -> np.ndarray:
    """The arbiter's guess of every encoded feature ``k_ij mod 3`` (row i, column j)."""
    n_b, m = x.shape
    # Calibrate: all zeros cubes, so each observation is α_j·D with D = (χ_p, χ_q) of the
    # host's obfuscator base and α_j uniform; D is the direction the mask moves characters in.
    direction = (0, 0)
    for _ in range(3):
        for c in host_batch(arb, host_pk, x, None, (0, 0), mask):
            o = arb.chars(c)
            if o != (0, 0):
                direction = o
    # Probe row by row with a zero whose characters C are not parallel to D, and project D away.
    probe = (1, 0) if direction[1] != 0 or direction == (0, 0) else (0, 1)
    det_cd = (probe[0] * direction[1] - probe[1] * direction[0]) % 3
    guess = np.zeros((n_b, m), dtype=np.int64)
    for i in range(n_b):
        for j, c in enumerate(host_batch(arb, host_pk, x, i, probe, mask)):
            o = arb.chars(c)  # = k_ij·C + α_j·D
            if direction == (0, 0):
                guess[i, j] = o[0] if probe[0] else o[1]
            else:
                det_od = (o[0] * direction[1] - o[1] * direction[0]) % 3
                guess[i, j] = det_od * pow(det_cd, -1, 3) % 3
    return guess


def binary_features(n_b: int = 12, m: int = 5) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 2, size=(n_b, m)).astype(np.float64)  # binary columns, as in one-hot data
    x[:, -1] = rng.normal(size=n_b)  # and one real-valued column: the attack reads k mod 3 there too
    return x


def test_residue_characters_recover_features_without_rerandomisation_and_chance_with_it(
    cubic_key: tuple[PaillierPublicKey, PaillierPrivateKey],
) -> None:
    # Prepare: the host holds its own copy of the public key (its own DJN base, as after the wire)
    pk, sk = cubic_key
    arb = CharacterArbiter(pk, sk)
    host_pk = PaillierPublicKey(int(pk.n))
    x = binary_features()
    truth = np.rint(np.ldexp(x, 23)).astype(np.int64) % 3  # the encoded multipliers mod 3
    bits = x[:, :-1].astype(np.int64)

    def djn_only(grad: EncryptedVector) -> EncryptedVector:
        # the control: the mask encrypted with the host's fixed-base obfuscator, nothing else
        masks = [secrets.randbelow(int(pk.n)) for _ in range(len(grad))]
        return grad + host_pk.encrypt_ints(masks)

    def product(grad: EncryptedVector) -> EncryptedVector:
        return msg.Masker(host_pk).mask(grad)[0]

    # Execute
    control = attack(arb, host_pk, x, djn_only)
    shipped = attack(arb, host_pk, x, product)
    # Assert: without a uniform rⁿ the arbiter reads every feature mod 3, the binary ones exactly
    np.testing.assert_array_equal(control, truth)
    np.testing.assert_array_equal((2 * control[:, :-1]) % 3, bits)
    # with it, its guesses are uniform in Z_3: ~1/3 right (60 guesses; ≥ 0.65 has p ≈ 5e-7)
    assert (shipped == truth).mean() < 0.65, (shipped == truth).mean()


# -- through the protocol: what reaches the key owner has uniform characters -------------------------
def aligned_frames(rows: int = 60) -> tuple[Frame, Frame]:
    """Guest: label + 10 columns; host: 20 columns; aligned rows."""
    rng = np.random.default_rng(3)
    ids = np.array([f"u{i}" for i in range(rows)])
    xg, xh = rng.normal(size=(rows, 10)), rng.normal(size=(rows, 20))
    y = (xg[:, 0] + xh[:, 0] + 0.5 * rng.normal(size=rows) > 0).astype(np.int64)
    guest = Frame(ids, xg, [f"g{i}" for i in range(10)], label=y)
    return guest, Frame(ids, xh, [f"h{i}" for i in range(20)])


class RecordingArbiter(HeteroLRArbiter):
    """Keeps every ciphertext the arbiter is asked to decrypt."""

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.seen: list[Any] = []
        self.n = 0

    def open_masked(self, sk: Any, masked: Any) -> list[int]:
        self.seen.extend(masked.ciphertexts)
        self.n = int(sk.public_key.n)
        return super().open_masked(sk, masked)

    def open_loss(self, sk: Any, loss: Any) -> float:
        self.seen.extend(loss.ciphertexts)
        return super().open_loss(sk, loss)


def test_every_ciphertext_the_arbiter_decrypts_has_a_uniform_jacobi_symbol() -> None:
    # The Jacobi symbol of c mod n is the product of the quadratic characters mod p and q of the
    # randomness, and anyone can compute it. Zeros and obfuscators of the DJN kind all have
    # Jacobi symbol +1 (h = −x²): if what the arbiter decrypts always has +1, it carries
    # randomness of a known kind. After re-randomisation with a uniform r it is ±1 at random.
    guest, host = aligned_frames()
    p = HeteroLRParams.from_dict(
        {
            "max_iter": 3,
            "batch_size": 30,
            "optimizer": "sgd",
            "encrypt_param": {"method": "paillier", "key_length": 1024},
        }
    )
    arb = RecordingArbiter(p)
    run_parties(
        {
            G: lambda c: HeteroLRGuest(p).fit(c, guest),
            H: lambda c: HeteroLRHost(p).fit(c, host),
            A: lambda c: arb.fit(c),
        },
        timeout=60,
    )
    jacobi = np.array([gmpy2.jacobi(int(c) % arb.n, arb.n) for c in arb.seen])
    share = float((jacobi == -1).mean())
    assert 0.3 < share < 0.7, share  # 192 fair coins: outside (0.3, 0.7) has p < 1e-7
    # 3 epochs × 2 batches × (11 + 20 gradient values + 1 loss)
    assert len(arb.seen) == 3 * 2 * (11 + 20 + 1)


# -- finding 5: the arbiter decrypts exactly one vector of the expected length per party ------------
def test_a_host_submitting_its_residual_as_gradient_is_refused() -> None:
    # Prepare: the host follows the protocol up to [d], then asks the arbiter to decrypt it
    guest, host = aligned_frames()
    p = HeteroLRParams.from_dict(
        {"max_iter": 1, "batch_size": -1, "encrypt_param": {"method": "plain", "key_length": 1024}}
    )

    class ResidualHost(HeteroLRHost):
        def _masked_gradient(self, masker: Any, d: Any, dots: Any) -> tuple[Any, list[int]]:
            return masker.mask(d)  # [d + m]: n_b values instead of the host's 20 weights

    # Execute / Assert
    with pytest.raises(MessageError) as err:
        run_parties(
            {
                G: lambda c: HeteroLRGuest(p).fit(c, guest),
                H: lambda c: ResidualHost(p).fit(c, host),
                A: lambda c: HeteroLRArbiter(p).fit(c),
            },
            timeout=20,
        )
    assert err.value.party == str(H) and err.value.field == "masked_gradient"
    assert "60" in str(err.value) and "20" in str(err.value)
