"""The board in a real browser: Debian's headless chromium, driven by Playwright, against a real
``fedloom server`` process holding three finished jobs (see conftest.py).

What is checked, page by page (each page is also saved as a screenshot; the folder is printed):

- the job list shows the three jobs with their states, and its search and state filter narrow it;
- the finished hetero LR job's DAG has exactly the DSL's components, every one green (success), its
  tasks table and the privacy ledger's summary;
- evaluation_0's ROC chart is drawn (an svg with marks or a non-blank canvas) from every point of
  the evaluation's ROC curve (read through the API independently of the page), and the KS chart's
  caption is the evaluation's KS; hetero_lr_0's page shows the first 100 output rows, as the API;
- the failed job (its host party SIGKILLed mid-job) names the failing party, component and reason
  on the first screen: every one of them inside the 1280×800 viewport without scrolling; its log
  link opens the logs on the failing party;
- the logs page shows every party's records, each once (counted against ``/v1/job/log``);
- without the session cookie a page redirects to the login page and the JSON API answers 401; the
  session cookie is HttpOnly;
- the first paint of the 20-component job's page, measured by the browser, is under 1 s, and so is
  the moment all 20 DAG nodes are on the page.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from board_helpers import LR, N_SCALES, Board, new_context

pytestmark = pytest.mark.slow

VIEWPORT = {"width": 1280, "height": 800}
ROW = 'tr[data-testid="job-row"]'
NODE = '[data-testid="dag-node"]'


def _shot(page: Any, artifacts: Path, name: str) -> None:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")


def _api(board: Board, endpoint: str, payload: dict[str, Any]) -> Any:
    """The server's JSON API with the token (the test's own view, not the board's)."""
    req = urllib.request.Request(
        f"{board.url}{endpoint}",
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {board.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        out = json.loads(resp.read())
    assert out["retcode"] == 0, out
    return out["data"]


def test_job_list_search_and_filter(logged_in: Any, board: Board, artifacts: Path) -> None:
    page = logged_in.new_page()
    page.goto(f"{board.url}/board/jobs")
    page.locator(ROW).first.wait_for()
    rows = {r.get_attribute("data-job-id"): r.get_attribute("data-state") for r in page.locator(ROW).all()}
    assert {rows.get(board.jobs[k]) for k in ("lr", "wide")} == {"success"}, rows
    assert rows.get(board.jobs["failed"]) == "failed", rows
    _shot(page, artifacts, "01_job_list")

    from playwright.sync_api import expect

    visible = page.locator(f"{ROW}:visible")
    page.locator('input[data-testid="job-search"]').fill(board.jobs["failed"])
    expect(visible).to_have_count(1)
    assert visible.first.get_attribute("data-job-id") == board.jobs["failed"]
    page.locator('input[data-testid="job-search"]').fill("")
    expect(visible).to_have_count(len(rows))

    page.locator('select[data-testid="state-filter"]').select_option("failed")
    expect(visible).to_have_count(sum(s == "failed" for s in rows.values()))
    assert {r.get_attribute("data-state") for r in visible.all()} == {"failed"}
    _shot(page, artifacts, "02_job_list_failed_only")

    # each job has a stable link to its page
    page.locator('select[data-testid="state-filter"]').select_option("success")
    link = page.locator(f'{ROW}[data-job-id="{board.jobs["lr"]}"] a[href]').first
    link.click()
    page.wait_for_url(f"**/board/jobs/{board.jobs['lr']}")
    page.close()


def _is_green(rgb: str) -> bool:
    nums = [int(float(x)) for x in re.findall(r"[\d.]+", rgb)[:3]]
    return len(nums) == 3 and nums[1] > nums[0] + 40 and nums[1] > nums[2] + 20


# Every colour a node is painted with: background, fill and stroke of the node and of everything in
# it (an svg node is usually a <g> holding a <rect> whose stroke or fill carries the state).
NODE_COLOURS_JS = """el => {
  const painted = s => s && s !== 'none' && s !== 'transparent' && s !== 'rgba(0, 0, 0, 0)';
  const out = [];
  for (const e of [el, ...el.querySelectorAll('*')]) {
    const cs = getComputedStyle(e);
    for (const c of [cs.backgroundColor, cs.fill, cs.stroke, cs.borderLeftColor]) if (painted(c)) out.push(c);
  }
  return out;
}"""


def test_finished_lr_dag_is_all_green(logged_in: Any, board: Board, artifacts: Path) -> None:
    page = logged_in.new_page()
    page.goto(f"{board.url}/board/jobs/{board.jobs['lr']}")
    page.locator(f'[data-testid="dag"] {NODE}').first.wait_for()
    nodes = page.locator(f'[data-testid="dag"] {NODE}').all()
    components = {n.get_attribute("data-component") for n in nodes}
    assert components == set(json.loads((LR / "dsl.json").read_text())["components"])
    states = {(n.get_attribute("data-component"), n.get_attribute("data-state")) for n in nodes}
    assert {s for _, s in states} == {"success"}, states
    colours = {n.get_attribute("data-component"): n.evaluate(NODE_COLOURS_JS) for n in nodes}
    assert all(any(_is_green(c) for c in cs) for cs in colours.values()), colours

    # per component x party: reader/data transform/intersection/LR on guest and host (+ arbiter for
    # LR), evaluation on the guest — at least one row per task the API reports
    tasks = _api(board, "/v1/job/query", {"job_id": board.jobs["lr"]})[0]["tasks"]
    assert page.locator('[data-testid="task-row"]').count() >= len(tasks) > 5
    assert page.locator('[data-testid="privacy"]').first.is_visible()
    _shot(page, artifacts, "03_job_lr_dag")
    page.close()


def _task(board: Board, component: str) -> dict[str, str]:
    return {"job_id": board.jobs["lr"], "role": "guest", "party_id": "9999", "component_name": component}


def _metrics(board: Board, component: str) -> dict[str, Any]:
    return dict(_api(board, "/v1/tracking/component/metric/all", _task(board, component)))


def _roc_points(board: Board) -> int:
    """How many points evaluation_0's ROC curves have (every series), read through the API."""
    metrics = _metrics(board, "evaluation_0")
    curves = [s["roc_curve"] for s in metrics["series"].values() if "roc_curve" in s]
    assert curves, f"the evaluation's metrics carry no ROC curve: {sorted(metrics)}"
    return sum(len(c["fpr"]) for c in curves)


CHART_JS = """el => {
  const svg = el.querySelector('svg'), canvas = el.querySelector('canvas');
  let marks = 0, inked = 0;
  if (svg) marks = svg.querySelectorAll('path, polyline, line, circle, rect').length;
  if (canvas && canvas.width && canvas.height) {
    const ctx = canvas.getContext('2d');
    if (ctx) {
      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
    } else inked = -1;  // a webgl canvas: count it as drawn only through data-points
  }
  return {svg: !!svg, canvas: !!canvas, marks, inked,
          points: Number(el.getAttribute('data-points') || 0)};
}"""


def test_evaluation_roc_chart_is_drawn(logged_in: Any, board: Board, artifacts: Path) -> None:
    page = logged_in.new_page()
    page.goto(f"{board.url}/board/jobs/{board.jobs['lr']}/components/evaluation_0?party=guest-9999")
    chart = page.locator('[data-testid="chart-roc"]')
    chart.wait_for()
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=\"chart-roc\"]')"
        ".getAttribute('data-points') || 0) > 0"
    )
    chart.scroll_into_view_if_needed()
    got = chart.evaluate(CHART_JS)
    assert got["svg"] or got["canvas"], got
    assert got["marks"] > 0 or got["inked"] > 0 or got["inked"] == -1, got
    # the chart is drawn from the curve the server serves, every one of its points (plus, where
    # the page draws it, the two-point chance diagonal)
    n = _roc_points(board)
    assert got["points"] in (n, n + 2), (got, n)
    # the KS chart's caption is the evaluation's own KS statistic
    ks_box = page.locator('[data-testid="chart-ks"]')
    caption = re.search(r"KS = ([0-9.]+)", ks_box.inner_text())
    assert caption is not None, ks_box.inner_text()
    ks = _metrics(board, "evaluation_0")["ks"]
    assert float(caption.group(1)) == pytest.approx(ks, abs=1e-5)
    _shot(page, artifacts, "04_evaluation_roc")
    page.close()


def test_component_page_shows_the_first_100_output_rows(
    logged_in: Any, board: Board, artifacts: Path
) -> None:
    page = logged_in.new_page()
    page.goto(f"{board.url}/board/jobs/{board.jobs['lr']}/components/hetero_lr_0?party=guest-9999")
    body = page.locator('[data-testid="output-rows"] tbody tr')
    body.first.wait_for()
    header = page.locator('[data-testid="output-rows"] thead th').all_inner_texts()
    data = _api(board, "/v1/tracking/component/output/data", _task(board, "hetero_lr_0") | {"limit": 100})
    assert header == data["header"], (header, data["header"])
    assert body.count() == len(data["rows"]) == 100
    i_id = data["header"].index("id")
    shown = body.evaluate_all(f"trs => trs.map(tr => tr.children[{i_id}].textContent)")
    assert shown == [str(r[i_id]) for r in data["rows"]]
    _shot(page, artifacts, "04b_hetero_lr_output")
    page.close()


def test_failed_job_names_party_component_and_reason_on_first_screen(
    logged_in: Any, board: Board, artifacts: Path
) -> None:
    page = logged_in.new_page()
    page.goto(f"{board.url}/board/jobs/{board.jobs['failed']}")
    failure = page.locator('[data-testid="failure"]')
    failure.wait_for()
    parts = {
        name: page.locator(f'[data-testid="failure"] [data-testid="failure-{name}"]').first
        for name in ("party", "component", "reason")
    }
    texts = {name: loc.inner_text().strip() for name, loc in parts.items()}
    _shot(page, artifacts, "05_job_failed")
    assert re.search(r"host\W*10000", texts["party"]), texts
    assert "hetero_lr_0" in texts["component"], texts
    # the runner's reason for a party process that died without reporting (see conftest)
    error = board.states["failed"]["error"]
    assert error["party"] == "host:10000" and error["component"] == "hetero_lr_0", error
    assert "SIGKILL" in texts["reason"] or "signal 9" in texts["reason"], texts
    assert page.evaluate("window.scrollY") == 0
    for name, loc in parts.items():
        box = loc.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0, (name, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"], (name, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], (name, box)
    node = page.locator(f'{NODE}[data-component="hetero_lr_0"]').first
    assert node.get_attribute("data-state") == "failed"
    colours = node.evaluate(NODE_COLOURS_JS)
    assert colours and not any(_is_green(c) for c in colours), colours  # the check above can fail
    page.close()


def test_failed_job_opens_the_failing_partys_log(logged_in: Any, board: Board, artifacts: Path) -> None:
    page = logged_in.new_page()
    page.goto(f"{board.url}/board/jobs/{board.jobs['failed']}")
    page.locator('[data-testid="failure"] a[href*="/logs"]').first.click()
    page.wait_for_url(f"**/board/jobs/{board.jobs['failed']}/logs**")
    lines = page.locator('[data-testid="log-line"]:visible')
    lines.first.wait_for()
    # the failure block again on top, and the log opened on the failing party (host 10000)
    assert "hetero_lr_0" in page.locator('[data-testid="failure-component"]').first.inner_text()
    # it opens on the failing party: either only its lines are shown, or its line at the failure is
    # on screen (interleaved view scrolled there)
    parties = set(lines.evaluate_all("els => els.map(e => e.getAttribute('data-party'))"))
    at = page.locator('[data-testid="log-line"][data-failure="true"]:visible')
    box = at.first.bounding_box() if at.count() else None
    on_screen = box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]
    at_party = at.first.get_attribute("data-party") if at.count() else None
    assert parties == {"host-10000"} or (on_screen and at_party == "host-10000"), (parties, at_party, box)
    _shot(page, artifacts, "05b_failed_job_logs")
    page.close()


def test_logs_page_shows_every_party(logged_in: Any, board: Board, artifacts: Path) -> None:
    page = logged_in.new_page()
    page.goto(f"{board.url}/board/jobs/{board.jobs['lr']}/logs")
    lines = page.locator('[data-testid="log-line"]')
    lines.first.wait_for()
    parties = set(lines.evaluate_all("els => els.map(e => e.getAttribute('data-party'))"))
    assert parties >= {"guest-9999", "host-10000", "arbiter-10000"}, parties
    levels = set(lines.evaluate_all("els => els.map(e => e.getAttribute('data-level'))"))
    assert "INFO" in {str(v).upper() for v in levels}, levels
    # one line per log record: as many timestamped lines per party as the party's log (through the
    # API's /v1/job/log) has records, so no record is lost or shown twice
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    logs = _api(board, "/v1/job/log", {"job_id": board.jobs["lr"]})
    texts = lines.evaluate_all("els => els.map(e => [e.getAttribute('data-party'), e.innerText])")
    for party, text in logs.items():
        records = len(re.findall(rf"^{stamp} ", text, flags=re.M))
        shown = sum(p == party and re.search(stamp, t) is not None for p, t in texts)
        assert shown == records > 0, (party, shown, records)
    _shot(page, artifacts, "06_logs")
    page.close()


def test_without_the_token_everything_is_refused(browser: Any, board: Board, artifacts: Path) -> None:
    context = new_context(browser)
    try:
        page = context.new_page()
        for path in ("/board/jobs", f"/board/jobs/{board.jobs['lr']}"):
            page.goto(f"{board.url}{path}")
            assert "/board/login" in page.url, page.url
            assert page.locator(ROW).count() == 0 and page.locator(NODE).count() == 0
        _shot(page, artifacts, "07_login_refused")
        # a wrong token does not log in either
        page.goto(f"{board.url}/board/login?token=not-the-token")
        page.goto(f"{board.url}/board/jobs")
        assert "/board/login" in page.url, page.url
        assert not context.cookies()
        page.close()
        # the JSON endpoints: 401, from the browser's context and from a bare client
        resp = context.request.get(f"{board.url}/board/api/jobs")
        assert resp.status == 401, resp.status
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{board.url}/board/api/jobs", timeout=10)
        assert err.value.code == 401
    finally:
        context.close()


def test_session_cookie_is_httponly(logged_in: Any, board: Board) -> None:
    cookies = logged_in.cookies(f"{board.url}/board/jobs")
    assert cookies and all(c["httpOnly"] for c in cookies), cookies
    page = logged_in.new_page()
    page.goto(f"{board.url}/board/jobs")
    assert board.token not in page.evaluate("document.cookie")
    assert logged_in.request.get(f"{board.url}/board/api/jobs").status == 200
    page.close()


def test_first_paint_of_a_20_component_job_under_1s(logged_in: Any, board: Board, artifacts: Path) -> None:
    page = logged_in.new_page()
    page.goto(f"{board.url}/board/jobs/{board.jobs['wide']}")
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=\"dag-node\"]').length >= {N_SCALES + 3}",
        polling="raf",
    )
    dag_ms = page.evaluate("performance.now()")
    paints = page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]))"
    )
    components = set(page.locator(NODE).evaluate_all("els => els.map(e => e.getAttribute('data-component'))"))
    _shot(page, artifacts, "08_job_20_components")
    # the long chain fits the card: no node past the DAG's visible width, no sideways scrolling
    fit = page.evaluate(
        """() => {
          const wrap = document.querySelector('[data-testid="dag"]').parentElement;
          const box = wrap.getBoundingClientRect();
          const out = [...document.querySelectorAll('[data-testid="dag-node"]')].map(g => {
            const r = g.getBoundingClientRect();
            return [g.getAttribute('data-component'), r.left >= box.left - 0.5 && r.right <= box.right + 0.5];
          }).filter(([, ok]) => !ok).map(([name]) => name);
          return {outside: out, scroll: wrap.scrollWidth, client: wrap.clientWidth};
        }"""
    )
    assert not fit["outside"], fit
    assert fit["scroll"] <= fit["client"], fit
    print(f"20-component job page: paints {paints}, all 20 DAG nodes at {dag_ms:.0f} ms")
    board.timings.update(paints)
    assert len(components) == N_SCALES + 3, components
    first_paint = paints.get("first-contentful-paint", paints.get("first-paint"))
    assert first_paint is not None, paints
    assert first_paint < 1000, paints
    assert dag_ms < 1000, dag_ms
    page.close()
