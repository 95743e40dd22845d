DROP INDEX order_lines_order_idx;
DROP INDEX orders_status_created_idx;
DROP INDEX orders_customer_created_idx;
