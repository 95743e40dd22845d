"""Request and response schemas (pydantic): validation happens before any SQL runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OrderStatus = Literal["pending", "paid", "shipped", "cancelled"]


class Strict(BaseModel):
    """A request body that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid")


class CustomerIn(Strict):
    """A new customer."""

    # A plain pattern, stated in the spec: what the schema allows, the service accepts (a stricter
    # validator refusing reserved domains such as example.test would break the contract).
    # PostgreSQL text cannot hold NUL: the schema refuses it (a 422), instead of the database (a 500).
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\x00]+@[^@\x00]+$")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")


class Customer(BaseModel):
    """A customer as stored."""

    id: int
    email: str
    name: str
    created_at: datetime


class OrderLineIn(Strict):
    """One line of a new order: a product, how many, at what unit price."""

    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    quantity: int = Field(gt=0, le=1000)
    unit_price_cents: int = Field(ge=0, le=10_000_000)


class OrderIn(Strict):
    """A new order for a customer, with its lines."""

    customer_id: int = Field(gt=0, le=2**63 - 1)  # a PostgreSQL bigint
    lines: list[OrderLineIn] = Field(min_length=1, max_length=100)


class OrderLine(BaseModel):
    """One line of an order as stored."""

    id: int
    sku: str
    quantity: int
    unit_price_cents: int


class Order(BaseModel):
    """An order as stored, without its lines."""

    id: int
    customer_id: int
    status: OrderStatus
    total_cents: int
    created_at: datetime


class OrderWithLines(Order):
    """An order with its lines."""

    lines: list[OrderLine]


class Page(BaseModel):
    """One page of a listing, at most ``limit`` items."""

    items: list[Any]
    limit: int


class CustomerPage(Page):
    """One page of customers."""

    items: list[Customer]


class OrderPage(Page):
    """One page of orders."""

    items: list[Order]


class ErrorBody(BaseModel):
    """The body of every error answer."""

    code: str
    message: str
    details: Any = None
    timestamp: datetime
    request_id: str | None


class Health(BaseModel):
    """The answer of the liveness probe (/health)."""

    status: str
