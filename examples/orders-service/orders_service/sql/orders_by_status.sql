-- The newest orders in one status (GET /orders?status=...).
SELECT id, customer_id, status, total_cents, created_at
FROM orders
WHERE status = %(status)s
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
