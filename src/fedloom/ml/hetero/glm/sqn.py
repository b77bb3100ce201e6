r"""``optimizer: sqn`` — FATE's stochastic quasi-Newton (Byrd et al.) without a clear-text arbiter.

Each party keeps the L-BFGS memory of **its own weights only**; the recursion's inner products
are the only cross-party quantities, and they are summed so that nobody sees a party's share.

Schedule (every party and the arbiter follow it alike, per model): batch steps are counted
:math:`k = 1, 2, \dots` across epochs. Each party adds its weights after every step to
:math:`\bar w_p`; after every ``update_interval_L`` steps it closes the average
:math:`\bar w_p^{(t)}`, and from the second average on it has :math:`s_p = \bar w_p^{(t)} -
\bar w_p^{(t-1)}`. Then one curvature pair:

1. guest → hosts (``SQN_SAMPLE``): the positions of ``sample_size`` distinct rows :math:`S`
   (``numpy.random.default_rng([random_seed, k, t])``, or fresh randomness);
2. host → guest (``HVP_FORWARD``): :math:`[c\,X_{h,S}s_h]` (:math:`c = \tfrac14` LR, 1 LinR);
3. guest → hosts (``HVP_RESIDUAL``): :math:`[z] = \sum_h[c\,X_{h,S}s_h] + c\,X_{g,S}s_g`;
4. each party: :math:`[X_{p,S}^Tz]` (the guest's intercept column :math:`[\sum z]`), masked and
   re-randomised like a gradient (``MASKED_HVP``); the arbiter decrypts exactly one vector of
   the party's weight count (``UNMASKED_HVP``); the party has :math:`y_p = X_{p,S}^Tz/|S|`
   (:math:`+\alpha s_p` with L2, intercept excluded) — :math:`y = Hs` for the Taylor Hessian
   :math:`H = c\,X_S^TX_S/|S|`, its own block only;
5. a secure sum of :math:`(s^Ty, y^Ty)` (below): :math:`\rho = 1/s^Ty`,
   :math:`\gamma = s^Ty / y^Ty` (both 0 / 1 when the product is not positive).

Each step once a pair is stored, with :math:`g_p` the party's gradient (L2 included): the
two-loop recursion, newest pair first, :math:`\alpha_i = \rho_i \sum_p s_{i,p}^Tq_p` (one secure
sum each), :math:`q_p \mathrel{-}= \alpha_i y_{i,p}`; :math:`r_p = \gamma q_p`; oldest first
:math:`\beta_i = \rho_i \sum_p y_{i,p}^Tr_p`, :math:`r_p \mathrel{+}= s_{i,p}(\alpha_i-\beta_i)`;
:math:`w_p \leftarrow w_p - \text{lr}_t\, r_p`. Before the first pair: :math:`w_p \leftarrow w_p -
\text{lr}_t\, g_p`. (L1 is refused with sqn.)

Secure sum (``SQN_MASK``, ``SQN_SHARE``, ``SQN_SUM``): values are fixed point
(:data:`SUM_FRAC_BITS`) mod :math:`2^{128}`
(:data:`SUM_BITS`). The guest draws a uniform
mask :math:`r_h` per host and value and sends it to that host; host :math:`h` sends
:math:`v_h + r_h`, the guest :math:`v_g - \sum_h r_h`; the arbiter adds them and sends the sum
to everyone. Each share is uniform on its own, so the arbiter learns only the sums; the hosts
learn uniform masks and the sums; the guest the sums (it never sees a host's share). Guest and
arbiter together could unmask a host's share (non-colluding, as everywhere in this protocol).

What each party learns beyond plain training, per curvature pair and per step: the global
scalars :math:`s^Ty`, :math:`y^Ty` (per pair), :math:`s_i^Tq`, :math:`y_i^Tr` (up to
``2·memory_M`` per step) — sums over all parties of products of their own weight differences,
gradients and Hessian products, never a party's vector. A host also learns its own
:math:`X_{h,S}^Tz` (with :math:`|S| \le m_h + 1` rows it could solve for :math:`z`, i.e. the
guest's :math:`X_{g,S}s_g`: such samples are refused by the batch-size rule unless
``allow_small_batches``) and the sample's row positions; the guest its own
:math:`X_{g,S}^Tz`, whose intercept entry :math:`\sum z` reveals :math:`\sum_S c\,X_{h,S}s_h`
(one scalar per pair, as the gradient's intercept entry already does for the scores).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import numpy as np

from fedloom.core.errors import ConfigError, MessageError

#: Fractional bits of the secure-sum values.
SUM_FRAC_BITS = 48
#: The secure sum works mod 2**SUM_BITS (shares uniform in that group).
SUM_BITS = 128
SUM_MOD = 1 << SUM_BITS
#: Fractional bits of the hosts' encrypted Hessian forwards [c·X_h,S s_h] (weight differences are small).
HVP_FRAC_BITS = 48

#: Global sums of a vector of local scalars: what a party's secure-sum round returns.
GlobalSum = Callable[[np.ndarray], np.ndarray]


def encode(values: np.ndarray) -> list[int]:
    """Fixed-point residues mod ``2**SUM_BITS`` of ``values``."""
    return [round(float(v) * 2.0**SUM_FRAC_BITS) % SUM_MOD for v in values]


def decode(residues: list[int]) -> np.ndarray:
    """The signed values of residues mod ``2**SUM_BITS``."""
    half = SUM_MOD >> 1
    return np.array([((r % SUM_MOD) - SUM_MOD if r % SUM_MOD >= half else r % SUM_MOD) for r in residues]) / (
        2.0**SUM_FRAC_BITS
    )


def draw_masks(count: int) -> list[int]:
    """Uniform masks mod ``2**SUM_BITS`` (the OS CSPRNG)."""
    return [secrets.randbelow(SUM_MOD) for _ in range(count)]


def check_sqn(penalty: str | None, quadratic: bool, algorithm: str) -> None:
    """sqn needs a quadratic family (LR, LinR) and no L1 penalty.

    Raises
    ------
    ConfigError
        Naming ``optimizer``.
    """
    if not quadratic:
        raise ConfigError(f"optimizer 'sqn' is not available for {algorithm}", field="optimizer")
    if penalty == "L1":
        raise ConfigError("optimizer 'sqn' does not support penalty 'L1'; use L2 or none", field="optimizer")


def sample_rows(n_rows: int, sample_size: int, seed: int | None, k: int, t: int) -> np.ndarray:
    """The rows of the Hessian sample of pair ``t`` (closed at step ``k``): distinct, sorted."""
    rng = np.random.default_rng(None if seed is None else [seed, k, t])
    size = min(sample_size, n_rows)
    return np.sort(rng.choice(n_rows, size=size, replace=False)).astype(np.int64)


class SQNSchedule:
    """When curvature pairs are made and how many pairs the memory holds (shared by every role)."""

    def __init__(self, update_interval: int, memory: int) -> None:
        if update_interval < 1 or memory < 1:
            raise ConfigError("sqn_param: update_interval_L and memory_M must be ≥ 1", field="sqn_param")
        self.L = update_interval
        self.M = memory
        self.k = 0  # steps taken
        self.t = 0  # averages closed
        self.pairs = 0  # pairs stored (at most M kept)

    @property
    def kept(self) -> int:
        return min(self.pairs, self.M)

    def step(self) -> bool:
        """Count one step; True when it closes an average that makes a curvature pair."""
        self.k += 1
        if self.k % self.L:
            return False
        self.t += 1
        return self.t >= 2

    def sums_per_step(self) -> int:
        """Secure-sum rounds of one step's two-loop recursion."""
        return 2 * self.kept


class SQNMemory:
    """One party's L-BFGS memory of its own weights, and its own part of the recursion."""

    def __init__(self, size: int, schedule: SQNSchedule) -> None:
        self.schedule = schedule
        self.acc = np.zeros(size)
        self.prev_bar: np.ndarray | None = None
        self.s: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.rho: list[float] = []
        self.gamma = 1.0

    def direction(self, g: np.ndarray, gsum: GlobalSum) -> np.ndarray:
        """The quasi-Newton direction's own part ``(H∇)_p`` (``g`` itself before the first pair)."""
        if not self.s:
            return g
        q = g.copy()
        alphas = [0.0] * len(self.s)
        for i in reversed(range(len(self.s))):
            alphas[i] = self.rho[i] * float(gsum(np.array([float(self.s[i] @ q)]))[0])
            q = q - alphas[i] * self.y[i]
        r = self.gamma * q
        for i in range(len(self.s)):
            beta = self.rho[i] * float(gsum(np.array([float(self.y[i] @ r)]))[0])
            r = r + self.s[i] * (alphas[i] - beta)
        return r

    def after_step(self, w: np.ndarray) -> np.ndarray | None:
        """Add ``w`` (the weights after a step) to the average; ``s_p`` when a pair is due."""
        self.acc = self.acc + w
        due = self.schedule.step()
        if self.schedule.k % self.schedule.L:
            return None
        bar = self.acc / self.schedule.L
        self.acc = np.zeros_like(self.acc)
        prev, self.prev_bar = self.prev_bar, bar
        if not due or prev is None:
            return None
        return bar - prev

    def add_pair(self, s: np.ndarray, y: np.ndarray, gsum: GlobalSum) -> None:
        """Store ``(s_p, y_p)`` with the global ``ρ`` and ``γ`` (one secure sum of two values)."""
        sy, yy = (float(v) for v in gsum(np.array([float(s @ y), float(y @ y)])))
        self.s.append(s)
        self.y.append(y)
        self.rho.append(1.0 / sy if sy > 1e-12 else 0.0)
        self.gamma = sy / yy if sy > 1e-12 and yy > 1e-12 else 1.0
        if len(self.s) > self.schedule.M:
            del self.s[0], self.y[0], self.rho[0]
        self.schedule.pairs += 1


SHARE_BYTES = SUM_BITS // 8


def to_bytes(values: list[int]) -> bytes:
    """Residues mod ``2**SUM_BITS`` as fixed-width bytes."""
    return b"".join(int(v % SUM_MOD).to_bytes(SHARE_BYTES, "big") for v in values)


def from_bytes(buf: object, count: int, sender: str, field: str) -> list[int]:
    """Parse :func:`to_bytes` output of exactly ``count`` values.

    Raises
    ------
    MessageError
        Not bytes, or another count (names the sender and the message).
    """
    if not isinstance(buf, bytes | bytearray) or len(buf) != count * SHARE_BYTES:
        raise MessageError(
            f"{field} from {sender}: expected {count} values of {SHARE_BYTES} bytes",
            party=sender,
            field=field,
        )
    view = bytes(buf)
    return [int.from_bytes(view[i : i + SHARE_BYTES], "big") for i in range(0, len(view), SHARE_BYTES)]


def expect_rows(raw: object, n_rows: int, size: int, sender: str) -> np.ndarray:
    """A Hessian sample received from the guest: ``size`` distinct row positions in range.

    Raises
    ------
    MessageError
        Anything else (names the guest and ``sqn_sample``).
    """
    try:
        rows = np.asarray(raw, dtype=np.int64)
    except (TypeError, ValueError):
        rows = np.zeros(0, dtype=np.int64)
    ok = rows.ndim == 1 and len(rows) == size and len(np.unique(rows)) == size
    if not ok or (size and (rows.min() < 0 or rows.max() >= n_rows)):
        raise MessageError(
            f"sqn sample from {sender}: expected {size} distinct row positions below {n_rows}",
            party=sender,
            field="sqn_sample",
        )
    return rows


def check_sample_size(size: int, weights: dict[str, int], allowed: bool, party: str) -> None:
    """The Hessian sample must have more rows than any party's weights + 1 (see SQN_SAMPLE).

    Raises
    ------
    ConfigError
        Naming ``sqn_param.sample_size``, unless ``allow_small_batches``.
    """
    if allowed:
        return
    for name, count in weights.items():
        if size <= count + 1:
            raise ConfigError(
                f"the sqn Hessian sample has {size} rows, not more than {name}'s {count} weights + 1: "
                f"{name} could solve its Hessian product for the others' scores (raise "
                "sqn_param.sample_size or set allow_small_batches)",
                party=party,
                field="sqn_param.sample_size",
            )
