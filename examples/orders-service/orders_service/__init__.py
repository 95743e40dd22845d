"""orders-service: the example backend the readiness gate checks (customers, orders, order lines)."""
