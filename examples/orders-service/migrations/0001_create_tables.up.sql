-- Customers, orders and order lines. Money is kept in cents (integer) to avoid float rounding.
-- The CHECK constraints hold the bounds the API promises (openapi.json), also for writes that
-- bypass the API.
-- Each table is created with its indexes (one per critical query, configs/queries/), so no
-- index is ever built on a table that already takes traffic (squawk: require-concurrent-index-creation).
CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text        NOT NULL UNIQUE CHECK (char_length(email) BETWEEN 3 AND 254),
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A customer with orders cannot be deleted: orders are kept for accounting.
CREATE TABLE orders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint      NOT NULL REFERENCES customers (id) ON DELETE RESTRICT,
    status       text        NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    total_cents  bigint      NOT NULL CHECK (total_cents >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at DESC, id DESC);
CREATE INDEX orders_status_created_idx ON orders (status, created_at DESC, id DESC);

CREATE TABLE order_lines (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id         bigint  NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    sku              text    NOT NULL CHECK (char_length(sku) BETWEEN 1 AND 64),
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_price_cents bigint  NOT NULL CHECK (unit_price_cents BETWEEN 0 AND 10000000)
);
CREATE INDEX order_lines_order_idx ON order_lines (order_id);
