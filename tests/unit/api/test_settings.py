"""Deployment settings of the management API and the worker: SECRETS_KEY is required outside the demo."""

from __future__ import annotations

import pytest

from worker.settings import DEMO_ACCESS_ID, MissingSetting, Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_without_secrets_key_the_processes_refuse_and_say_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SECRETS_KEY", raising=False)
    monkeypatch.delenv("DEMO", raising=False)
    with pytest.raises(MissingSetting, match=r"Fernet\.generate_key"):
        settings().secrets_keys()


def test_the_demo_runs_with_a_published_key_and_demo_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRETS_KEY", raising=False)
    for name in ("API_ACCESS_ID", "API_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    demo = settings(demo=True)
    assert demo.secrets_keys()
    assert demo.admin_credentials() is not None
    assert demo.admin_credentials()[0] == DEMO_ACCESS_ID  # type: ignore[index]


def test_admin_credentials_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO", raising=False)
    assert settings(api_access_id="me", api_access_key="k").admin_credentials() == ("me", "k")
    assert settings(api_access_id=None, api_access_key=None).admin_credentials() is None
