-- Demo data, enough that a missing index shows in a plan. %(customers)s customers,
-- %(orders)s orders, one to three lines each. Deterministic (no random()) so plans repeat.
INSERT INTO customers (email, name, created_at)
SELECT 'customer' || g || '@example.test', 'Customer ' || g, now() - (g || ' minutes')::interval
FROM generate_series(1, %(customers)s) AS g;

INSERT INTO orders (customer_id, status, total_cents, created_at)
SELECT 1 + (g * 7919) %% %(customers)s,
       (ARRAY['pending', 'paid', 'shipped', 'cancelled'])[1 + g %% 4],
       0,
       now() - (g || ' seconds')::interval
FROM generate_series(1, %(orders)s) AS g;

INSERT INTO order_lines (order_id, sku, quantity, unit_price_cents)
SELECT o.id, 'SKU-' || (o.id * 31 + n) %% 500, 1 + (o.id + n) %% 3, 100 + (o.id * n) %% 9900
FROM orders AS o, generate_series(1, 1 + o.id %% 3) AS n;

UPDATE orders AS o SET total_cents = l.total
FROM (SELECT order_id, sum(quantity * unit_price_cents) AS total FROM order_lines GROUP BY order_id) AS l
WHERE l.order_id = o.id;

ANALYZE customers;
ANALYZE orders;
ANALYZE order_lines;
