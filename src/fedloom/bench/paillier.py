"""Paillier micro-benchmark: fedloom against python-paillier (``phe``) at equal key size.

One process, one thread (``set_num_workers(1)``), the same values for both libraries:

* ``encrypt``: public-key encryption with fresh obfuscation (the realistic path: the party that
  encrypts usually does not own the key) of float values at 32 fractional bits (phe with
  ``precision=2**-32``, so both use one fixed exponent);
* ``decrypt``: decryption and decoding to floats;
* ``add``: ciphertext + ciphertext;
* ``mul_scalar``: ciphertext × a 23-bit integer.

Only the operations are timed (``time.perf_counter``), not key generation nor fedloom's one-off
fixed-base table (built before timing, ~0.1 s at 2048 bits, once per key). phe's encryption is
slow (~110/s at 2048 bits), so phe's encrypt / decrypt / mul are timed on ``min(n, 200)`` items.
Each measurement is repeated (``REPEATS``) and the best rate kept, for both libraries alike, so
that a busy shared machine disturbs the comparison less.

``python benchmarks/paillier.py [--key-size 2048] [--n 2000] [--quick] --json``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fedloom.bench.common import PaillierKeySize
from fedloom.core.errors import ConfigError
from fedloom.core.validation import validate
from fedloom.crypto.paillier import generate_keypair, get_num_workers, set_num_workers

OPS = ("encrypt", "decrypt", "add", "mul_scalar")
PHE_MAX_ITEMS = 200
QUICK_N = 300
REPEATS = 3
MAX_N = 10_000_000


class _Args(BaseModel):
    """Arguments of :func:`run`, checked before any key is made."""

    model_config = ConfigDict(extra="forbid", strict=True)
    key_size: PaillierKeySize
    n: int = Field(ge=1, le=MAX_N)


def _rate(count: int, fn: Callable[[], Any]) -> float:
    """Best of ``REPEATS`` timings of ``fn`` (which performs ``count`` operations), in ops/s."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best if best > 0 else float("inf")


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def _fedloom(key_size: int, x: np.ndarray, scalar: int) -> dict[str, float]:
    n = len(x)
    pk, sk = generate_keypair(key_size)
    pk.precompute()
    pk.encrypt(x[:8])  # warm-up
    out: dict[str, float] = {}
    enc: list[Any] = []
    out["encrypt"] = _rate(n, lambda: enc.append(pk.encrypt(x)))
    a = enc[-1]
    b = pk.encrypt(x[::-1].copy())
    out["decrypt"] = _rate(n, lambda: sk.decrypt(a))
    out["add"] = _rate(n, lambda: a + b)
    out["mul_scalar"] = _rate(n, lambda: a * scalar)
    return out


def _phe(key_size: int, x: np.ndarray, scalar: int) -> dict[str, float]:
    try:
        from phe import paillier  # the peer we compare with; only needed when benchmarking
    except ImportError:
        raise ConfigError(
            "the Paillier benchmark compares with python-paillier, which is not installed: "
            "pip install 'fedloom[bench]'",
            field="phe",
        ) from None

    n = len(x)
    m = min(n, PHE_MAX_ITEMS)
    vals = [float(v) for v in x]
    pub, priv = paillier.generate_paillier_keypair(n_length=key_size)
    precision = 2.0**-32
    out: dict[str, float] = {}
    batches: list[list[Any]] = []
    out["encrypt"] = _rate(m, lambda: batches.append([pub.encrypt(v, precision=precision) for v in vals[:m]]))
    enc = batches[-1]
    other = [pub.encrypt(v, precision=precision) for v in vals[m - 1 :: -1][:m]]
    out["decrypt"] = _rate(m, lambda: [priv.decrypt(c) for c in enc])
    out["add"] = _rate(n, lambda: [enc[i % m] + other[i % m] for i in range(n)])
    out["mul_scalar"] = _rate(m, lambda: [c * scalar for c in enc])
    return out


def run(key_size: int = 2048, n: int = 2000) -> dict[str, Any]:
    """Time fedloom and phe on the same operations; ops/s each and the ratio fedloom / phe.

    Returns
    -------
    dict
        ``{"key_size", "n", "fedloom": {op: ops/s}, "phe": {op: ops/s}, "ratio": {op: x}}`` with
        ops ``encrypt``, ``decrypt``, ``add``, ``mul_scalar`` (4 significant digits).

    Raises
    ------
    ConfigError
        ``key_size`` not an even int in [1024, 8192], or ``n`` not in [1, 10,000,000].
    """
    validate(_Args, {"key_size": key_size, "n": n}, owner="the Paillier benchmark")
    previous = get_num_workers()
    set_num_workers(1)
    try:
        rng = np.random.default_rng(0)
        x = rng.uniform(-1.0, 1.0, size=n)
        scalar = (1 << 22) | int(rng.integers(0, 1 << 22))  # exactly 23 bits
        ours = _fedloom(key_size, x, scalar)
        theirs = _phe(key_size, x, scalar)
    finally:
        set_num_workers(previous)
    return {
        "key_size": key_size,
        "n": n,
        "fedloom": {op: _round(ours[op]) for op in OPS},
        "phe": {op: _round(theirs[op]) for op in OPS},
        "ratio": {op: round(ours[op] / theirs[op], 2) for op in OPS},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``[--key-size 2048] [--n 2000] [--quick] [--json]``."""
    parser = argparse.ArgumentParser(description="Paillier: fedloom vs python-paillier (one core).")
    parser.add_argument("--key-size", type=int, default=2048)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help=f"n = {QUICK_N}")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.key_size, QUICK_N if args.quick else args.n)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        sys.stdout.write(f"Paillier, {result['key_size']}-bit keys, n = {result['n']}, one thread\n")
        sys.stdout.write(f"{'op':<12}{'fedloom/s':>14}{'phe/s':>14}{'ratio':>9}\n")
        for op in OPS:
            sys.stdout.write(
                f"{op:<12}{result['fedloom'][op]:>14,.1f}{result['phe'][op]:>14,.1f}{result['ratio'][op]:>8.2f}x\n"
            )
    return 0
