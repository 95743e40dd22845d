"""TEST_FAULT: the test-only switches the readiness gate's tests use; off unless set, refused when unknown."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from orders_service.app import create_app
from orders_service.auth import issue_token
from orders_service.settings import Settings


def test_no_fault_by_default_and_an_unknown_one_is_refused() -> None:
    assert Settings.from_env({"DATABASE_URL": "postgresql://x", "JWT_SECRET": "s"}).test_fault == ""
    assert Settings.from_env({"DATABASE_URL": "postgresql://x", "JWT_SECRET": "s",
                              "TEST_FAULT": "open-write"}).test_fault == "open-write"
    with pytest.raises(RuntimeError, match="TEST_FAULT must be one of"):
        Settings.from_env({"DATABASE_URL": "postgresql://x", "JWT_SECRET": "s", "TEST_FAULT": "bogus"})


def _client(settings: Settings, fault: str) -> Iterator[TestClient]:
    with TestClient(create_app(dataclasses.replace(settings, test_fault=fault)),
                    raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def leaky(settings: Settings) -> Iterator[TestClient]:
    yield from _client(settings, "leak-500")


@pytest.fixture
def open_write(settings: Settings) -> Iterator[TestClient]:
    yield from _client(settings, "open-write")


@pytest.fixture
def unlimited(settings: Settings) -> Iterator[TestClient]:
    yield from _client(dataclasses.replace(settings, writes_per_minute=1), "no-rate-limit")


def test_leak_500_crashes_list_orders_and_shows_the_trace(leaky: TestClient) -> None:
    answer = leaky.get("/orders")
    assert answer.status_code == 500 and "Traceback (most recent call last)" in answer.text


def test_open_write_skips_auth_on_create_customer_only(open_write: TestClient) -> None:
    created = open_write.post("/customers", json={"email": "open-write@example.test", "name": "Open"})
    assert created.status_code in (201, 409)
    assert open_write.post("/orders", json={"customer_id": 1, "lines": []}).status_code == 401


def test_no_rate_limit_lets_every_write_through(unlimited: TestClient, settings: Settings) -> None:
    token = issue_token(settings.jwt_secret, "burst", settings.jwt_audience)
    body = {"customer_id": 1, "lines": [{"sku": "A-1", "quantity": 1, "unit_price_cents": 100}]}
    statuses = {unlimited.post("/orders", json=body, headers={"Authorization": f"Bearer {token}"}).status_code
                for _ in range(3)}
    assert statuses == {201}


def test_a_crash_without_fault_keeps_the_uniform_body_and_headers(client: TestClient,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from orders_service import db

    async def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database exploded")

    monkeypatch.setattr(db, "fetch_all", boom)
    answer = client.get("/customers")
    assert answer.status_code == 500 and answer.json()["code"] == "internal_error"
    assert answer.json()["request_id"] == answer.headers["x-request-id"]
    assert answer.headers["x-content-type-options"] == "nosniff" and "Traceback" not in answer.text
