"""The Collection page in headless Chromium, against a real deployment.

Redis, the simulator, a Celery worker that runs the start task, and the API are real processes;
the browser signs in with HTTP Basic like an operator's browser does. Each test makes its own
collector and sources, so they do not depend on each other. The browser tests are skipped only
when no chromium binary exists (`make test` installs Debian's).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from core.clock import ManualClock
from core.store.counters import RECORDS_FORWARDED, Counters
from core.store.secrets import MASK
from tests.support.api_server import ADMIN_ID, ADMIN_KEY
from tests.support.browser import MISSING, chromium, chromium_path
from tests.support.stack import Stack, running_stack, wait_for

pytestmark = pytest.mark.xdist_group("collection-page")
needs_chromium = pytest.mark.skipif(chromium_path() is None, reason=MISSING)
INVALID = "Client credentials are invalid"
# Generous under a loaded CI machine; a passing run waits for none of it.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("collection-page"), workers=1, simulator=True) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if chromium_path() is None:
        pytest.skip(MISSING)
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(
        http_credentials={"username": ADMIN_ID, "password": ADMIN_KEY},
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(10_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], f"the page raised: {errors}"


@pytest.fixture
def api(stack: Stack) -> httpx.Client:
    return stack.client()


def new_collector(api: httpx.Client) -> str:
    answer = api.post("/collectors", json={"collector": {"collectorType": "Hosted", "name": unique("mail")}})
    assert answer.status_code == 201, answer.text
    collector_id: str = answer.json()["collector"]["id"]
    return collector_id


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_source(
    api: httpx.Client, collector_id: str, client_id: str, secret: str, **config: Any
) -> dict[str, Any]:
    body = {
        "api.version": "v1",
        "source": {
            "config": {
                "name": unique("Mimecast"),
                "category": "mail/mimecast",
                "clientID": client_id,
                "clientSecret": secret,
                "dataCollection": ["dlp", "auditEvent"],
                **config,
            },
            "schemaRef": {"type": "Mimecast"},
            "sourceType": "Universal",
        },
    }
    answer = api.post(f"/collectors/{collector_id}/sources", json=body)
    assert answer.status_code == 201, answer.text
    source: dict[str, Any] = answer.json()["source"]
    return source


def state_of(api: httpx.Client, collector_id: str, source_id: str) -> dict[str, Any]:
    state: dict[str, Any] = api.get(f"/collectors/{collector_id}/sources/{source_id}").json()["source"][
        "state"
    ]
    return state


def settled(api: httpx.Client, collector_id: str, source_id: str, *states: str) -> dict[str, Any]:
    """The source's state once it is one of `states`."""
    return wait_for(
        lambda: (found := state_of(api, collector_id, source_id))["state"] in states and found,
        timeout=20,
        what=f"source {source_id} {' or '.join(states)}",
    )


def settled_progress(api: httpx.Client, collector_id: str, source_id: str) -> list[dict[str, Any]]:
    """The source's progress once every collection has committed a page and a second look a moment
    later finds the same (its backlog is read; the next poll is minutes away)."""
    path = f"/collectors/{collector_id}/sources/{source_id}/progress"

    def still() -> list[dict[str, Any]] | None:
        first = api.get(path).json()["progress"]
        if not all(item["collected"] for item in first):
            return None
        time.sleep(1.0)
        again: list[dict[str, Any]] = api.get(path).json()["progress"]
        same = [(i["recordsForwarded"], i["checkpointTime"]) for i in first] == [
            (i["recordsForwarded"], i["checkpointTime"]) for i in again
        ]
        return again if same else None

    found: list[dict[str, Any]] = wait_for(still, timeout=30, what="settled progress")
    return found


def when(iso: str) -> str:
    """A time as the page shows it (`when` in page.js)."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@pytest.fixture
def failing_and_good(stack: Stack, api: httpx.Client) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A collector with a source whose credentials Mimecast refuses (in Error) and a good one, which
    collects from the simulator at once."""
    collector_id = new_collector(api)
    client_id, secret = unique("client"), unique("secret")
    stack.add_mimecast_client(client_id, secret)
    bad = new_source(api, collector_id, unique("unknown-client"), "wrong-secret")
    good = new_source(api, collector_id, client_id, secret)
    error = settled(api, collector_id, bad["id"], "Error")
    assert INVALID in error["error"]["message"]
    settled(api, collector_id, good["id"], "Collecting")
    return collector_id, bad, good


def row(page: Page, name: str) -> Any:
    return page.locator(f"tr.source-row[data-source='{name}']")


@needs_chromium
def test_the_page_needs_the_api_credentials(stack: Stack) -> None:
    for path in ("/", "/page/page.js", "/page/page.css"):
        refused = httpx.get(stack.api.url + path)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="mimecast-source"'
        served = httpx.get(stack.api.url + path, auth=(ADMIN_ID, ADMIN_KEY))
        assert served.status_code == 200
        assert "default-src 'none'" in served.headers["Content-Security-Policy"]
    assert httpx.get(stack.api.url + "/page/../app.py", auth=(ADMIN_ID, ADMIN_KEY)).status_code == 404


def test_a_restart_sent_from_another_site_is_refused(stack: Stack, api: httpx.Client) -> None:
    """The browser attaches its cached Basic credentials whatever site asks; the API refuses."""
    collector_id = new_collector(api)
    source = new_source(api, collector_id, unique("unknown-client"), "wrong-secret")
    restart = f"/collectors/{collector_id}/sources/{source['id']}/action/restart"
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}):
        refused = api.post(restart, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "request.cross_site"
    assert api.post(restart, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 202


@needs_chromium
def test_a_failing_source_shows_error_health_and_its_issue_in_the_status_tooltip(
    page: Page, stack: Stack, failing_and_good: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    _, bad, good = failing_and_good
    page.goto(stack.api.url + "/")

    failing, healthy = row(page, bad["config"]["name"]), row(page, good["config"]["name"])
    expect(failing.locator(".health")).to_have_text("Error")
    expect(failing.locator(".health .icon-error")).to_be_visible()
    expect(failing.locator(".state")).to_have_text("Error")
    expect(healthy.locator(".health")).to_have_text("Healthy")
    expect(healthy.locator(".state")).to_have_text("Collecting")

    icon = failing.locator(".status-icon")
    tooltip = failing.get_by_role("tooltip")
    expect(tooltip).to_be_hidden()
    icon.hover()
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text("ThirdPartyConfigError")
    expect(tooltip).to_contain_text(INVALID)
    page.mouse.move(0, 0)
    expect(tooltip).to_be_hidden()

    # The same description on keyboard focus, and for assistive technology.
    icon.focus()
    expect(tooltip).to_be_visible()
    expect(icon).to_have_accessible_description(tooltip.inner_text())
    page.keyboard.press("Escape")
    expect(tooltip).to_be_hidden()
    expect(healthy.locator(".status-icon")).to_have_accessible_description(re.compile("^No issue detected"))


@needs_chromium
def test_restart_asks_for_confirmation_and_notifies_the_result(
    page: Page, stack: Stack, api: httpx.Client, failing_and_good: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    collector_id, bad, _ = failing_and_good
    history = f"/collectors/{collector_id}/sources/{bad['id']}/history"
    before = len(api.get(history).json()["history"])
    page.goto(stack.api.url + "/")
    row(page, bad["config"]["name"]).get_by_role("link", name=f"Details of {bad['config']['name']}").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(bad["config"]["name"])
    expect(page.get_by_role("note")).to_contain_text(INVALID)
    restart = page.get_by_role("button", name="Restart Source")
    restart.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Restart {bad['config']['name']}?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert len(api.get(history).json()["history"]) == before, "cancel restarts nothing"

    restart.click()
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator("#toasts")).to_contain_text(f"Restart of {bad['config']['name']} requested")
    restarts = [entry for entry in api.get(history).json()["history"] if entry["state"] == "Pending"]
    assert len(restarts) == 2, "created, then restarted once"
    # The start runs again and halts on the same refusal; the view shows it in its history.
    settled(api, collector_id, bad["id"], "Error")
    expect(page.locator("section", has_text="State history").locator("tbody tr").first).to_contain_text(
        "Error", timeout=15_000
    )


@needs_chromium
def test_a_source_added_through_the_form_exists_in_the_api_with_its_fields_schema_marks(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    collector_id = new_collector(api)
    client_id, secret = unique("client"), unique("secret")
    stack.add_mimecast_client(client_id, secret)
    assert api.post("/fields", json={"fieldName": "team"}).status_code in (200, 409)
    missing, left_missing, name = unique("region"), unique("costcentre"), unique("Form source")

    page.goto(stack.api.url + f"/#/collectors/{collector_id}/sources/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a Mimecast source")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("checkbox", name="DLP logs").check()

    # Saved without a client id: the API's error names the field, shown beside it.
    page.get_by_role("button", name="Save").click()
    client = page.get_by_label("Client ID")
    expect(client).to_have_attribute("aria-invalid", "true")
    expect(client).to_have_accessible_description("must not be empty")
    expect(page.get_by_role("alert")).to_contain_text("source.config.clientID: must not be empty")

    client.fill(client_id)
    page.get_by_label("Client Secret").fill(secret)
    page.get_by_label("Source Category (optional)").fill("mail/form")
    page.get_by_role("checkbox", name="Audit events").check()
    page.get_by_role("checkbox", name="Forward to SIEM").check()
    expect(page.get_by_label("SIEM mode")).to_have_value("auto")  # the default
    page.get_by_label("SIEM mode").select_option("streaming")
    for field, value in (("team", "mail"), (missing, "eu"), (left_missing, "42")):
        page.get_by_role("button", name="+ Add Field").click()
        page.get_by_label("Field name").last.fill(field)
        page.get_by_label("Field value").last.fill(value)
    expect(page.get_by_role("img", name="team is in the fields schema")).to_be_visible()
    expect(
        page.get_by_role("img", name=f"{missing} is not in the fields schema", exact=False)
    ).to_be_visible()
    page.get_by_role("button", name=f"Add {missing} to the fields schema").click()
    expect(page.get_by_role("img", name=f"{missing} is in the fields schema")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text(f"Field {missing} added to the fields schema")
    expect(
        page.get_by_role("img", name=f"{left_missing} is not in the fields schema", exact=False)
    ).to_be_visible()

    page.get_by_role("button", name="+ Add Rule").click()
    page.get_by_label("Name", exact=True).last.fill("drop spam")
    page.get_by_label("Regular expression").fill(".*spam.*")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator("#toasts")).to_contain_text(f"Source {name} created")
    assert missing in {field["fieldName"] for field in api.get("/fields").json()["data"]}
    (created,) = [
        s
        for s in api.get(f"/collectors/{collector_id}/sources").json()["sources"]
        if s["config"]["name"] == name
    ]
    config = created["config"]
    assert config["clientID"] == client_id
    assert config["clientSecret"] == MASK
    assert config["category"] == "mail/form"
    assert config["dataCollection"] == ["dlp", "auditEvent"]
    assert config["siemMode"] == "streaming"
    assert config["fields"] == {"team": "mail", missing: "eu", left_missing: "42", "_siemForward": True}
    assert created["droppedFields"] == [left_missing]
    assert config["filters"] == [{"name": "drop spam", "filterType": "Exclude", "regexp": ".*spam.*"}]
    settled(api, collector_id, created["id"], "Authenticated", "Collecting")


@needs_chromium
def test_editing_a_source_keeps_its_secret_when_left_empty(
    page: Page, stack: Stack, api: httpx.Client
) -> None:
    collector_id = new_collector(api)
    client_id, secret = unique("client"), unique("secret")
    stack.add_mimecast_client(client_id, secret)
    source = new_source(api, collector_id, client_id, secret, collectFrom="7d", siemMode="batch")
    settled(api, collector_id, source["id"], "Authenticated", "Collecting")

    history = f"/collectors/{collector_id}/sources/{source['id']}/history"
    starts = len([entry for entry in api.get(history).json()["history"] if entry["state"] == "Pending"])
    page.goto(stack.api.url + f"/#/collectors/{collector_id}/sources/{source['id']}/edit")
    expect(page.get_by_label("Client Secret")).to_have_value("")
    expect(page.get_by_label("SIEM mode")).to_have_value("batch")
    page.get_by_label("Source Category (optional)").fill("mail/edited")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#toasts")).to_contain_text(f"Source {source['config']['name']} updated")

    shown = api.get(f"/collectors/{collector_id}/sources/{source['id']}").json()["source"]
    assert shown["config"]["category"] == "mail/edited"
    assert shown["config"]["collectFrom"] == "7d"  # the form has no such input, and keeps it
    assert shown["config"]["siemMode"] == "batch"

    # The stored secret was kept: the update reuses the credentials' cached token. (The start hands
    # the source to collection at once: `Collecting` may follow its `Authenticated` before we look.)
    def restarted() -> dict[str, Any] | None:
        found = api.get(history).json()["history"]
        latest_start = next(place for place, entry in enumerate(found) if entry["state"] == "Pending")
        since = found[:latest_start]
        if len([entry for entry in found if entry["state"] == "Pending"]) != starts + 1:
            return None
        return next((entry for entry in since if entry["state"] == "Authenticated"), None)

    entry = wait_for(restarted, timeout=20, what="a new start that authenticates")
    assert entry["reason"] == "Mimecast accepted the credentials: their cached token is still valid"


@needs_chromium
def test_the_source_view_shows_progress_health_events_and_history(
    page: Page, stack: Stack, api: httpx.Client, failing_and_good: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    collector_id, bad, good = failing_and_good
    # What the good source collected from the simulator, as the API reads it from Redis
    dlp_now, audit_now = settled_progress(api, collector_id, good["id"])
    assert (dlp_now["collection"], audit_now["collection"]) == ("dlp", "auditEvent")
    for progress in (dlp_now, audit_now):
        assert progress["recordsForwarded"] > 0
        assert progress["checkpointTime"] is not None

    page.goto(stack.api.url + f"/#/collectors/{collector_id}/sources/{good['id']}")
    section = page.locator("section", has_text="Progress")
    dlp, audit = section.get_by_role("row", name="DLP logs"), section.get_by_role("row", name="Audit events")
    for row_of, progress in ((dlp, dlp_now), (audit, audit_now)):
        expect(row_of).to_contain_text(when(progress["checkpointTime"]))
        expect(row_of).to_contain_text(f"{progress['recordsForwarded']:,}")
    history = page.locator("section", has_text="State history")
    expect(history).to_contain_text("Mimecast accepted the credentials")

    # A refresh (every few seconds: the lag moves) keeps the keyboard focus where it was.
    restart = page.get_by_role("button", name="Restart Source")
    restart.focus()
    shown = page.locator("#updated").inner_text()
    page.wait_for_timeout(1000)  # the "Updated" stamp has a one-second resolution
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#updated")).not_to_have_text(shown)
    expect(restart).to_be_focused()

    page.goto(stack.api.url + f"/#/collectors/{collector_id}/sources/{bad['id']}")
    events = page.locator("section", has_text="Health events")
    expect(events.locator("tbody tr").first).to_contain_text("ThirdPartyConfigError")
    expect(events.locator("tbody tr").first).to_contain_text(INVALID)
    expect(page.locator("section", has_text="Progress")).to_contain_text("not collected yet")


@needs_chromium
def test_the_source_view_charts_records_per_minute_and_lag_and_the_list_shows_a_sparkline(
    page: Page, stack: Stack, api: httpx.Client, failing_and_good: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    collector_id, bad, good = failing_and_good
    # Two minutes before the source existed, beside what it collects from the simulator now
    labels = {"source": good["id"], "collection": "dlp"}
    now = datetime.now(UTC)
    earlier = (now - timedelta(minutes=10), now - timedelta(minutes=5))
    for moment, count in zip(earlier, (25, 40), strict=True):
        Counters(stack.redis(), ManualClock(moment)).add(RECORDS_FORWARDED, labels, count)
    dlp_now, audit_now = settled_progress(api, collector_id, good["id"])

    path = f"/collectors/{collector_id}/sources/{good['id']}/progress/history"
    dlp, audit = api.get(path).json()["collections"]
    assert (dlp["collection"], audit["collection"], dlp["stepSeconds"]) == ("dlp", "auditEvent", 60)
    assert len(dlp["forwarded"]) == len(dlp["lagSeconds"]) == 1440
    first = datetime.fromisoformat(dlp["start"])
    ten, five = (int((moment - first).total_seconds() // 60) for moment in earlier)
    assert (dlp["forwarded"][ten], dlp["forwarded"][five]) == (25, 40)
    # Every record counted is in a minute: the chart adds up to the progress totals
    assert sum(dlp["forwarded"]) == dlp_now["recordsForwarded"] > 65
    assert sum(audit["forwarded"]) == audit_now["recordsForwarded"] > 0
    assert dlp["lagSeconds"][0] is None  # nothing known a day ago
    for series in (dlp, audit):
        assert series["lagSeconds"][-1] is not None
    short = api.get(path, params={"minutes": 60}).json()["collections"][0]
    assert (len(short["forwarded"]), sum(short["forwarded"])) == (60, sum(dlp["forwarded"]))
    refused = api.get(path, params={"minutes": 2000})
    assert refused.status_code == 400
    assert "minutes" in refused.text
    total = sum(dlp["forwarded"]) + sum(audit["forwarded"])
    sparks = api.get(f"/collectors/{collector_id}/progress/sparklines").json()["sources"]
    mine = next(spark for spark in sparks if spark["id"] == good["id"])
    assert (len(mine["forwarded"]), sum(mine["forwarded"]), mine["stepSeconds"]) == (48, total, 1800)

    page.goto(stack.api.url + f"/#/collectors/{collector_id}/sources/{good['id']}")
    charts = page.locator("section", has_text="Last 24 hours")
    records = charts.locator("figure[data-collection='dlp'] svg.chart-records")
    expect(records).to_have_attribute("data-points", "1440")
    # The highest minute is this one's or the one before (the collected backlog), or the 40 injected
    highest = max(dlp["forwarded"])
    expect(records).to_have_attribute("aria-label", re.compile(rf"highest {highest:,}\b"))
    assert records.locator("path.chart-line").get_attribute("d").count("M") >= 1
    lag = charts.locator("figure[data-collection='dlp'] svg.chart-lag")
    expect(lag).to_have_attribute("aria-label", re.compile(r"latest \d"))
    caption = charts.locator("figure[data-collection='dlp'] figcaption")
    expect(caption).to_contain_text(f"{sum(dlp['forwarded']):,} records in 24 h")

    # The failing source collected nothing: its charts say so, and draw no line
    page.goto(stack.api.url + f"/#/collectors/{collector_id}/sources/{bad['id']}")
    charts = page.locator("section", has_text="Last 24 hours")
    nothing = charts.locator("figure[data-collection='auditEvent'] svg.chart-records")
    expect(nothing).to_have_attribute("aria-label", re.compile("nothing recorded"))
    no_lag = charts.locator("figure[data-collection='auditEvent'] svg.chart-lag")
    expect(no_lag).to_have_attribute("aria-label", re.compile("nothing recorded"))
    assert no_lag.locator("path.chart-line").get_attribute("d") == ""

    page.goto(stack.api.url + "/#/")
    spark = row(page, good["config"]["name"]).locator("svg.sparkline")
    expect(spark).to_have_attribute("data-total", str(total))
    expect(spark).to_have_attribute("aria-label", re.compile(f"last 24 hours: {total:,}\\b"))
    box = spark.bounding_box()
    assert box is not None
    assert box["width"] > 50
