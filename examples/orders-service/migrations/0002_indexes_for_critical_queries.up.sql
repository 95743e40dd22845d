-- One index per critical query (configs/queries/): without them each query scans its table.
CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at DESC, id DESC);
CREATE INDEX orders_status_created_idx ON orders (status, created_at DESC, id DESC);
CREATE INDEX order_lines_order_idx ON order_lines (order_id);
