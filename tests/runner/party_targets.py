"""Party functions run by the launcher tests, each in its own OS process (imported by name)."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from typing import Any

import numpy as np

from fedloom.context import Channel, Context
from fedloom.core import ARBITER, GUEST, HOST, DataError
from fedloom.crypto.paillier import generate_keypair

PUBKEY = Channel("pubkey", src=ARBITER, dst=(GUEST, HOST))
BULK = Channel("bulk", src=GUEST, dst=HOST)
CIPHERS = Channel("ciphers", src=GUEST, dst=HOST)
SAMPLE = Channel("sample", src=HOST, dst=ARBITER)
PONG = Channel("pong", src=HOST, dst=(GUEST, ARBITER))
PING = Channel("ping", src=GUEST, dst=HOST)

N_CIPHERS = 100_000
SAMPLE_EVERY = 500


def digest(buf: Any) -> str:
    return hashlib.sha256(memoryview(buf).cast("B")).hexdigest()


def cipher_values() -> np.ndarray:
    return np.arange(N_CIPHERS, dtype=np.float64) * 0.5 - 1000.0


# -- large payloads --------------------------------------------------------------------------
def bulk_guest(ctx: Context, mbytes: int) -> dict[str, Any]:
    arr = np.random.default_rng(7).random(mbytes * (1 << 20) // 8)
    t0 = time.perf_counter()
    ctx.send(BULK, arr)
    bulk_seconds = time.perf_counter() - t0
    pk = ctx.recv_public_key(PUBKEY, scheme="paillier", min_bits=2048)
    # 100k real ciphertexts: encrypting each afresh would dominate the test's time, so one
    # fresh encryption of 0 is shifted by each value with a plaintext add (one modmul each).
    zero = pk.encrypt(np.zeros(1))
    enc = zero[np.zeros(N_CIPHERS, dtype=np.int64)] + cipher_values()
    ctx.send(CIPHERS, enc)
    return {"bulk": digest(arr), "ciphers": digest(enc.to_bytes()), "bulk_seconds": bulk_seconds}


def bulk_host(ctx: Context) -> dict[str, Any]:
    arr = ctx.recv(BULK)
    ctx.recv_public_key(PUBKEY, scheme="paillier", min_bits=2048)
    enc = ctx.recv(CIPHERS)
    ctx.send(SAMPLE, enc[::SAMPLE_EVERY])
    return {
        "bulk": digest(np.ascontiguousarray(arr)),
        "shape": list(arr.shape),
        "ciphers": digest(enc.to_bytes()),
        "count": len(enc),
        "traffic": ctx.stats.as_dict(),
    }


def bulk_arbiter(ctx: Context) -> dict[str, Any]:
    pk, sk = generate_keypair(2048)
    ctx.send(PUBKEY, pk)
    sample = ctx.recv(SAMPLE)
    return {"sample": sk.decrypt(sample).tolist()}


# -- a peer that disappears ------------------------------------------------------------------
def killed_host(ctx: Context) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def guest_sends_to_dead_host(ctx: Context) -> None:
    time.sleep(1.0)
    ctx.send(PING, 1)


def waits_for_dead_host(ctx: Context) -> None:
    ctx.recv(PONG)


# -- a party that fails ----------------------------------------------------------------------
def failing_guest(ctx: Context) -> None:
    raise DataError("no column 'id' in table breast_hetero_guest", field="id")


def patient_host(ctx: Context) -> None:
    ctx.recv(PING)


def echo_guest(ctx: Context) -> int:
    ctx.send(PING, 20)
    return int(ctx.recv(PONG)) + 1


def echo_host(ctx: Context) -> None:
    ctx.send(PONG, int(ctx.recv(PING)) * 2)


# -- a peer killed mid-protocol --------------------------------------------------------------
def guest_waits_for_pong(ctx: Context) -> int:
    ctx.send(PING, 1)
    return int(ctx.recv(PONG))


def host_killed_after_ping(ctx: Context) -> None:
    ctx.recv(PING)
    time.sleep(0.2)  # the guest is waiting for the pong now
    os.kill(os.getpid(), signal.SIGKILL)
