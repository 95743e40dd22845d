"""The API end to end against a real PostgreSQL: reads, writes, auth, validation, errors."""

from __future__ import annotations

import time

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from orders_service.auth import issue_token
from orders_service.settings import Settings

from tests.conftest import SEED_CUSTOMERS


def test_health_answers_without_touching_the_database(client: TestClient) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_ready_when_the_database_answers(client: TestClient) -> None:
    assert client.get("/ready").json() == {"status": "ready"}


def test_ready_is_503_when_the_database_is_down() -> None:
    down = Settings(database_url="postgresql://nobody:x@127.0.0.1:1/none", jwt_secret="s", ready_timeout_s=0.5)
    with TestClient(create_app_for(down)) as client:
        answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.json()["code"] == "not_ready"


def create_app_for(settings: Settings) -> FastAPI:
    from orders_service.app import create_app

    return create_app(settings)


def test_customers_are_paginated_by_id(client: TestClient) -> None:
    first = client.get("/customers", params={"limit": 5}).json()
    ids = [c["id"] for c in first["items"]]
    assert ids == sorted(ids) and len(ids) == 5
    after = client.get("/customers", params={"limit": 5, "after_id": ids[-1]}).json()
    assert after["items"][0]["id"] > ids[-1]


def test_get_customer_and_404(client: TestClient) -> None:
    assert client.get("/customers/1").json()["email"] == "customer1@example.test"
    missing = client.get("/customers/999999")
    assert missing.status_code == 404
    body = missing.json()
    assert body["code"] == "not_found" and body["request_id"] and body["timestamp"]


def test_orders_by_customer_are_newest_first(client: TestClient) -> None:
    items = client.get("/orders", params={"customer_id": 3, "limit": 50}).json()["items"]
    assert items and all(o["customer_id"] == 3 for o in items)
    stamps = [o["created_at"] for o in items]
    assert stamps == sorted(stamps, reverse=True)


def test_orders_by_status(client: TestClient) -> None:
    items = client.get("/orders", params={"status": "paid", "limit": 10}).json()["items"]
    assert len(items) == 10 and {o["status"] for o in items} == {"paid"}


def test_orders_without_a_filter_are_the_newest(client: TestClient) -> None:
    items = client.get("/orders", params={"limit": 5}).json()["items"]
    ids = [o["id"] for o in items]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)


def test_a_wrong_method_answers_405_with_every_allowed_method(client: TestClient) -> None:
    answer = client.request("OPTIONS", "/customers")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert answer.json()["code"] == "method_not_allowed"


def test_order_with_lines_totals_match(client: TestClient) -> None:
    order = client.get("/orders/7").json()
    assert order["lines"]
    assert order["total_cents"] == sum(line["quantity"] * line["unit_price_cents"] for line in order["lines"])
    assert client.get("/orders/99999999").status_code == 404


def test_create_order_needs_a_token(client: TestClient) -> None:
    answer = client.post("/orders", json={"customer_id": 1, "lines": [{"sku": "A-1", "quantity": 1,
                                                                        "unit_price_cents": 5}]})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_create_order_writes_order_and_lines(client: TestClient, writer_headers: dict[str, str]) -> None:
    lines = [{"sku": "A-1", "quantity": 2, "unit_price_cents": 250}, {"sku": "B-2", "quantity": 1,
                                                                       "unit_price_cents": 100}]
    created = client.post("/orders", json={"customer_id": 2, "lines": lines}, headers=writer_headers)
    assert created.status_code == 201
    body = created.json()
    assert body["total_cents"] == 600 and body["status"] == "pending" and len(body["lines"]) == 2
    assert client.get(f"/orders/{body['id']}").json() == body


def test_create_order_for_unknown_customer_is_404_and_writes_nothing(
        client: TestClient, writer_headers: dict[str, str]) -> None:
    answer = client.post("/orders", json={"customer_id": 999999, "lines": [
        {"sku": "A-1", "quantity": 1, "unit_price_cents": 1}]}, headers=writer_headers)
    assert answer.status_code == 404


@pytest.mark.parametrize("body", [
    {"customer_id": 1, "lines": []},
    {"customer_id": 0, "lines": [{"sku": "A", "quantity": 1, "unit_price_cents": 1}]},
    {"customer_id": 1, "lines": [{"sku": "<script>", "quantity": 1, "unit_price_cents": 1}]},
    {"customer_id": 1, "lines": [{"sku": "A", "quantity": 0, "unit_price_cents": 1}]},
    {"customer_id": 1, "lines": [{"sku": "A", "quantity": 1, "unit_price_cents": 1}], "extra": True},
])
def test_invalid_orders_are_422_without_echoing_input(client: TestClient, writer_headers: dict[str, str],
                                                       body: dict[str, object]) -> None:
    answer = client.post("/orders", json=body, headers=writer_headers)
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_failed"
    assert "<script>" not in answer.text


def test_malformed_json_is_400(client: TestClient, writer_headers: dict[str, str]) -> None:
    answer = client.post("/orders", content=b"{not json", headers={**writer_headers,
                                                                    "content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_request"


def test_create_customer_and_conflict(client: TestClient, writer_headers: dict[str, str]) -> None:
    body = {"email": f"new{time.time_ns()}@example.com", "name": "New"}
    assert client.post("/customers", json=body, headers=writer_headers).status_code == 201
    again = client.post("/customers", json=body, headers=writer_headers)
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert client.get("/customers", params={"after_id": SEED_CUSTOMERS}).json()["items"]


def test_expired_token_is_401(client: TestClient, settings: Settings) -> None:
    token = issue_token(settings.jwt_secret, "t", settings.jwt_audience, ttl_s=-10)
    answer = client.post("/customers", json={"email": "a@example.test", "name": "A"},
                         headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401 and "expired" in answer.json()["message"]


def test_token_with_wrong_signature_or_scope(client: TestClient, settings: Settings) -> None:
    forged = jwt.encode({"sub": "x", "aud": settings.jwt_audience, "exp": int(time.time()) + 60,
                         "scope": "orders:write"}, "other-secret", algorithm="HS256")
    assert client.get("/orders/1", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert client.get("/orders/1", headers={"Authorization": "Basic abc"}).status_code == 401
    reader = issue_token(settings.jwt_secret, "r", settings.jwt_audience, scope="orders:read")
    answer = client.post("/customers", json={"email": "b@example.test", "name": "B"},
                         headers={"Authorization": f"Bearer {reader}"})
    assert answer.status_code == 403


def test_security_headers_and_request_id(client: TestClient) -> None:
    answer = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert answer.headers["x-request-id"] == "abc-123"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "max-age" in answer.headers["strict-transport-security"]
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    hostile = client.get("/health", headers={"X-Request-ID": "x\" onload=1"})
    assert hostile.headers["x-request-id"] != "x\" onload=1"


def test_unknown_route_uses_the_error_body(client: TestClient) -> None:
    answer = client.get("/nope")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"


def test_metrics_expose_route_templates_and_errors(client: TestClient) -> None:
    client.get("/orders/7")
    client.get("/orders/8")
    text = client.get("/metrics").text
    assert 'route="/orders/{order_id}"' in text
    assert 'route="/orders/7"' not in text
    assert "db_pool_connections_max" in text
    # Every route's 5xx series exists from the start, at 0, so alerts see it before the first error.
    assert 'http_request_errors_total{method="POST",route="/orders",status="500"} 0.0' in text


def test_unexpected_error_is_500_with_the_uniform_body(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from orders_service import db

    async def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(db, "fetch_one", broken)
    answer = client.get("/customers/1")
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_error" and "boom" not in answer.text
    series = 'http_request_errors_total{method="GET",route="/customers/{customer_id}",status="500"}'
    assert f"{series} 1.0" in client.get("/metrics").text


def test_artificial_delay_slows_api_requests_only(settings: Settings) -> None:
    from dataclasses import replace

    slow = create_app_for(replace(settings, artificial_delay_ms=150))
    with TestClient(slow) as client:
        started = time.perf_counter()
        client.get("/health")
        health_s = time.perf_counter() - started
        started = time.perf_counter()
        client.get("/customers/1")
        api_s = time.perf_counter() - started
    assert api_s >= 0.15 > health_s
