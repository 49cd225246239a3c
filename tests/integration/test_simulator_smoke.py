from __future__ import annotations

import httpx

from tests.support.simulator import SimulatorProcess


def test_a_token_opens_the_dlp_route(simulator: SimulatorProcess) -> None:
    token = simulator.token()
    body = {"data": [{"from": "2000-01-01T00:00:00+0000", "to": "2100-01-01T00:00:00+0000"}]}
    response = httpx.post(
        f"{simulator.url}/api/dlp/get-logs", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json()["data"][0]["dlpLogs"]
