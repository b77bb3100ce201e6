"""End to end over gRPC: every party its own OS process, started by the local launcher."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from fedloom.core import PartyFailedError, PartyId
from fedloom.runner.launcher import LaunchResult, PartyOutcome, PartySpec, launch

HERE = str(Path(__file__).parent)
G, H, A = PartyId.parse("guest:9999"), PartyId.parse("host:10000"), PartyId.parse("arbiter:10000")


def specs(**targets: str) -> list[PartySpec]:
    parties = {"guest": G, "host": H, "arbiter": A}
    return [PartySpec(parties[role], f"party_targets:{fn}") for role, fn in targets.items()]


def test_two_processes_exchange_messages(tmp_path: Path) -> None:
    res = launch(
        specs(guest="echo_guest", host="echo_host"), python_path=[HERE], job_dir=tmp_path, timeout=30
    )
    res.raise_for_failure()
    assert res.results()[G] == 41
    assert (tmp_path / "logs" / "guest-9999.stderr").exists()


@pytest.mark.slow
def test_three_processes_exchange_200mb_and_100k_ciphertexts(tmp_path: Path) -> None:
    from party_targets import N_CIPHERS, SAMPLE_EVERY, cipher_values  # type: ignore[import-not-found]

    s = specs(guest="bulk_guest", host="bulk_host", arbiter="bulk_arbiter")
    s[0].kwargs = {"mbytes": 200}
    t0 = time.monotonic()
    res = launch(s, python_path=[HERE], job_dir=tmp_path, timeout=120)
    res.raise_for_failure()
    out = res.results()
    assert out[H]["shape"] == [200 * (1 << 20) // 8]
    assert out[H]["bulk"] == out[G]["bulk"]
    assert out[H]["count"] == N_CIPHERS and out[H]["ciphers"] == out[G]["ciphers"]
    np.testing.assert_allclose(out[A]["sample"], cipher_values()[::SAMPLE_EVERY])
    traffic = out[H]["traffic"]
    assert traffic["bulk"]["received_bytes"] >= 200 * (1 << 20)
    assert traffic["ciphers"]["received_bytes"] >= N_CIPHERS * 512  # 2048-bit key: 512-byte ciphertexts
    print(f"200 MB sent in {out[G]['bulk_seconds']:.2f} s; whole test {time.monotonic() - t0:.1f} s")


def test_a_killed_peer_makes_the_others_time_out_without_hanging(tmp_path: Path) -> None:
    timeout = 3.0
    t0 = time.monotonic()
    res = launch(
        specs(guest="guest_sends_to_dead_host", host="killed_host", arbiter="waits_for_dead_host"),
        python_path=[HERE],
        job_dir=tmp_path,
        timeout=timeout,
        stop_others=False,
    )
    elapsed = time.monotonic() - t0
    out = res.outcomes
    assert out[H].status == "killed" and "signal 9" in out[H].message
    assert out[G].error_type == "PartyTimeoutError", out[G].message
    assert out[A].error_type == "PartyTimeoutError", out[A].message
    assert "pong/host:10000->arbiter:10000" in out[A].message
    assert res.first_failure() is out[H]  # the timeouts are reactions: the dead host is the cause
    assert res.aftermath()[A].startswith("stopped after host:10000 failed (PartyTimeoutError")
    assert out[G].seconds < timeout + 4 and out[A].seconds < timeout + 4
    assert elapsed < timeout + 15


def test_a_failed_party_is_named_and_the_rest_stop(tmp_path: Path) -> None:
    t0 = time.monotonic()
    res = launch(
        specs(guest="failing_guest", host="patient_host"), python_path=[HERE], job_dir=tmp_path, timeout=60
    )
    assert time.monotonic() - t0 < 20  # not the 60 s receive timeout: the host was told
    assert not res.ok
    assert res.outcomes[H].error_type == "PartyFailedError"
    with pytest.raises(PartyFailedError) as err:
        res.raise_for_failure()
    assert err.value.party == "guest:9999"
    assert "DataError" in str(err.value) and "no column 'id'" in str(err.value)


def test_a_host_killed_mid_protocol_is_named_first_and_the_others_stopped_after_it(tmp_path: Path) -> None:
    t0 = time.monotonic()
    res = launch(
        specs(guest="guest_waits_for_pong", host="host_killed_after_ping", arbiter="waits_for_dead_host"),
        python_path=[HERE],
        job_dir=tmp_path,
        timeout=30,
        grace=1.0,
    )
    out = res.outcomes
    assert time.monotonic() - t0 < 15  # not the 30 s receive timeout: the launcher stopped the rest
    assert out[H].status == "killed" and out[H].exit_code == -9
    assert out[H].message == "process killed by signal 9 (SIGKILL) before reporting a result"
    assert out[G].status == "stopped" and out[A].status == "stopped"
    assert res.first_failure() is out[H]
    with pytest.raises(PartyFailedError) as err:
        res.raise_for_failure()
    assert err.value.party == "host:10000"
    headline = str(err.value).splitlines()[0]
    assert headline.startswith("[host:10000] process killed by signal 9 (SIGKILL)"), headline
    assert "guest:9999: stopped after host:10000 failed" in headline
    assert "arbiter:10000: stopped after host:10000 failed" in headline


def _outcome(party: PartyId, status: str, error_type: str, ended: float) -> PartyOutcome:
    return PartyOutcome(party, status, error_type=error_type, message="m", ended=ended)


def test_the_root_cause_is_a_failure_of_its_own_even_when_reactions_were_seen_first() -> None:
    res = LaunchResult(
        {
            A: _outcome(A, "error", "PartyFailedError", 1.0),
            G: _outcome(G, "error", "PartyTimeoutError", 2.0),
            H: _outcome(H, "killed", "", 3.0),
        }
    )

    assert res.first_failure() is res.outcomes[H]
    assert res.aftermath() == {
        A: "stopped after host:10000 failed (PartyFailedError: m)",
        G: "stopped after host:10000 failed (PartyTimeoutError: m)",
    }


def test_among_failures_of_their_own_the_first_seen_is_the_root_cause() -> None:
    res = LaunchResult(
        {
            G: _outcome(G, "error", "DataError", 2.0),
            H: _outcome(H, "error", "MessageError", 1.0),
            A: _outcome(A, "stopped", "", 0.5),
        }
    )

    assert res.first_failure() is res.outcomes[H]
    assert res.aftermath()[G] == "also failed: DataError: m"
    assert res.aftermath()[A] == "stopped after host:10000 failed (m)"
