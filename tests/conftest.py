"""Suite-wide: a failing test that used an in-memory federation shows the addresses it used.

``run_parties`` checks addresses itself (see :mod:`fedloom.testing`); this adds, to the report of
any failing test, the address log of every :class:`~fedloom.transport.memory.MemoryHub` the test
made, those built by hand included: what was sent, received, and waited on in vain (each with the
nearest address sent). A passing test is not affected.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from fedloom.testing import recording_hubs
from fedloom.transport.memory import MemoryHub

HUBS = pytest.StashKey[list[MemoryHub]]()


@pytest.fixture(autouse=True)
def _record_memory_hubs(request: pytest.FixtureRequest) -> Iterator[None]:
    with recording_hubs() as hubs:
        request.node.stash[HUBS] = hubs
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        hubs = [hub for hub in item.stash.get(HUBS, []) if len(hub.log)]
        for i, hub in enumerate(hubs, 1):
            title = f"addresses of in-memory federation {i} of {len(hubs)}"
            report.sections.append(("fedloom addresses", hub.log.report(title)))
    return report
