"""Request and response schemas (pydantic): validation happens before any SQL runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

OrderStatus = Literal["pending", "paid", "shipped", "cancelled"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerIn(Strict):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)


class Customer(BaseModel):
    id: int
    email: str
    name: str
    created_at: datetime


class OrderLineIn(Strict):
    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    quantity: int = Field(gt=0, le=1000)
    unit_price_cents: int = Field(ge=0, le=10_000_000)


class OrderIn(Strict):
    customer_id: int = Field(gt=0)
    lines: list[OrderLineIn] = Field(min_length=1, max_length=100)


class OrderLine(BaseModel):
    id: int
    sku: str
    quantity: int
    unit_price_cents: int


class Order(BaseModel):
    id: int
    customer_id: int
    status: OrderStatus
    total_cents: int
    created_at: datetime


class OrderWithLines(Order):
    lines: list[OrderLine]


class Page(BaseModel):
    items: list[Any]
    limit: int


class CustomerPage(Page):
    items: list[Customer]


class OrderPage(Page):
    items: list[Order]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None
    timestamp: datetime
    request_id: str | None


class Health(BaseModel):
    status: str
