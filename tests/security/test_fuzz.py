"""``fedloom bench fuzz``: a live endpoint over mutual TLS survives malformed envelopes.

The benchmark runs the endpoint in its own process, so a decoder crash shows as ``crashes > 0``
here instead of killing pytest. Before finding 2 was fixed, deep nesting crashed the endpoint;
before the transport checked address tails against the authenticated sender, foreign addresses
were accepted (``accepted_wrongly > 0``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import msgpack
import pytest

from fedloom.bench import fuzz
from fedloom.transport.envelope import Envelope

REPORT_KEYS = {"n", "crashes", "rejected", "accepted_wrongly", "rss_growth_mb", "still_serving"}
EXTRA_KEYS = {"job_after", "seconds", "by_kind"}


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return fuzz.run(n=300, seed=3)


def test_the_endpoint_never_crashes_and_still_serves_afterwards(report: dict[str, Any]) -> None:
    assert set(report) == REPORT_KEYS | EXTRA_KEYS
    assert report["n"] == 300
    assert report["crashes"] == 0
    assert report["still_serving"] is True
    assert report["job_after"] is True
    assert all(row["mismatch"] == 0 and row["server_errors"] == 0 for row in report["by_kind"].values())


def test_every_envelope_has_exactly_one_outcome(report: dict[str, Any]) -> None:
    by_kind = report["by_kind"]
    assert set(by_kind) == set(fuzz.KINDS)
    assert sum(row["sent"] for row in by_kind.values()) == 300
    for kind, row in by_kind.items():
        assert row["sent"] == sum(
            row[o] for o in ("rejected", "decoded", "accepted_wrongly", "resent", "lost")
        ), kind
    assert report["rejected"] == sum(row["rejected"] for row in by_kind.values())
    # Valid envelopes decode, or are refused only while the fuzzer exceeds its byte budget.
    assert by_kind["valid"]["decoded"] > 0
    assert by_kind["valid"]["decoded"] + by_kind["valid"]["rejected"] == by_kind["valid"]["sent"]
    assert by_kind["deep_nesting"]["rejected"] == by_kind["deep_nesting"]["sent"] > 0


def test_nothing_that_must_be_refused_is_accepted(report: dict[str, Any]) -> None:
    # Passes once the transport refuses foreign addresses (src->dst not the certificate's party).
    assert report["accepted_wrongly"] == 0, report["by_kind"]


def _case(src: str = "host:10000", dst: str = "guest:9999", tail: str = "", body: bytes = b"x") -> fuzz._Case:
    env = Envelope(
        address=f"fuzz/1/probe/{tail or f'{src}->{dst}'}",
        src=src,
        dst=dst,
        payload_type="msgpack",
        key_fingerprint="",
        body=[body],
    )
    return fuzz._Case("valid", [msgpack.packb(env.header()), body])


def test_the_harness_counts_what_the_rules_refuse() -> None:
    accepted: dict[str, tuple[Any, int]] = {}
    assert fuzz._verdict(_case(), accepted) == "new"
    assert fuzz._verdict(_case(tail="arbiter:10000->guest:9999"), accepted) == "refuse"
    assert fuzz._verdict(_case(src="arbiter:10000"), accepted) == "refuse"
    assert fuzz._verdict(_case(dst="guest:1"), accepted) == "refuse"
    first = _case()
    assert first.header is not None
    accepted[first.header["a"]] = (first.header.get("m"), first.header["n"])
    assert fuzz._verdict(first, accepted) == "resend"  # the same message again: idempotent
    assert fuzz._verdict(_case(), accepted) == "refuse"  # another message at a used address
    short = fuzz._Case("truncated", first.frames[:1])
    assert fuzz._verdict(short, {}) == "refuse"  # fewer bytes than announced


def test_cli_prints_the_report_as_json() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from fedloom.cli import main; main()",
            "bench",
            "fuzz",
            "--n",
            "40",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert set(out) == REPORT_KEYS | EXTRA_KEYS
    assert out["n"] == 40 and out["crashes"] == 0
