-- The newest orders of one customer (GET /orders?customer_id=...).
SELECT id, customer_id, status, total_cents, created_at
FROM orders
WHERE customer_id = %(customer_id)s
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
