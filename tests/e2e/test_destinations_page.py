"""The Destinations view of the Collection page in headless Chromium, against a real API:
destinations with their health, one created from the form (its secret masked afterwards), and a
deletion the API refuses while a collector routes to the destination.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from core.sinks.routing import Outcome
from core.store.counters import Counters
from core.store.destinations import DestinationReport
from tests.support.api_server import ADMIN_ID, ADMIN_KEY
from tests.support.browser import MISSING, chromium, chromium_path
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.xdist_group("destinations-page")
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("destinations-page")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if chromium_path() is None:
        pytest.skip(MISSING)
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(http_credentials={"username": ADMIN_ID, "password": ADMIN_KEY})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], f"the page raised: {errors}"


def test_destinations_show_their_health_and_one_is_created_from_the_form(page: Page, stack: Stack) -> None:
    api: httpx.Client = stack.client()
    failing = f"splunk-{uuid.uuid4().hex[:6]}"
    made = api.post(
        "/destinations",
        json={
            "destination": {
                "name": failing,
                "type": "splunkHec",
                "config": {"url": "https://s:8088", "token": "t"},
            }
        },
    ).json()["destination"]
    # Given a failed write recorded by a worker
    report = DestinationReport(stack.redis(), Counters(stack.redis()))
    report.record(
        Outcome(
            made["id"],
            failing,
            "splunkHec",
            3,
            0.1,
            datetime.now(UTC),
            "destination.unreachable",
            "splunkHec destination down",
        )
    )
    page.goto(f"{stack.api.url}/#/destinations")
    row = page.locator(f'tr[data-destination="{failing}"]')
    expect(row).to_contain_text("Failing")
    expect(row).to_contain_text("destination.unreachable: splunkHec destination down")

    # When one is created from the form
    created = f"archive-{uuid.uuid4().hex[:6]}"
    page.get_by_role("link", name="Add Destination").click()
    page.get_by_label("Name").fill(created)
    page.get_by_label("Type").select_option("s3")
    page.get_by_label("Config").fill(
        '{"bucket": "logs", "accessKeyId": "AKIA", "secretAccessKey": "very-secret-key"}'
    )
    page.get_by_role("button", name="Create").click()
    # Then it is listed, not yet used, and its secret is stored masked
    expect(page.locator(f'tr[data-destination="{created}"]')).to_contain_text("No data yet")
    listed = {d["name"]: d for d in api.get("/destinations").json()["destinations"]}
    assert listed[created]["config"]["secretAccessKey"] == "********"


def test_a_bad_config_is_shown_in_the_form_and_a_routed_destination_is_not_deleted(
    page: Page, stack: Stack
) -> None:
    api: httpx.Client = stack.client()
    routed = f"routed-{uuid.uuid4().hex[:6]}"
    api.post(
        "/destinations", json={"destination": {"name": routed, "type": "file", "config": {"path": "/tmp/x"}}}
    )
    collector = {"collectorType": "Hosted", "name": uuid.uuid4().hex[:8], "destinations": [routed]}
    assert api.post("/collectors", json={"collector": collector}).status_code == 201
    page.goto(f"{stack.api.url}/#/destinations/new")
    page.get_by_label("Name").fill(f"bad-{uuid.uuid4().hex[:6]}")
    page.get_by_label("Type").select_option("syslog")
    page.get_by_label("Config").fill('{"host": "siem", "port": 99999}')
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("destination.config.port")

    page.goto(f"{stack.api.url}/#/destinations")
    page.get_by_role("button", name=f"Delete {routed}").click()
    expect(page.locator("#toasts")).to_contain_text("routed to by collector")
    expect(page.locator(f'tr[data-destination="{routed}"]')).to_be_visible()
