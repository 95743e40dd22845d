-- The lines of one order (GET /orders/{order_id}).
SELECT id, order_id, sku, quantity, unit_price_cents
FROM order_lines
WHERE order_id = %(order_id)s
ORDER BY id
