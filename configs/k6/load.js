// Load test for orders-service: mostly reads, some authenticated writes.
// The readiness gate passes BASE_URL and API_TOKEN and sets the load shape and the
// thresholds itself (--config), so this script holds only the traffic mix.
// Every request carries a `name` tag, so that thresholds and results are per endpoint.
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const TOKEN = __ENV.API_TOKEN || '';
// The size of the seed (orders_service.seed): ids are picked inside it.
const CUSTOMERS = Number(__ENV.CUSTOMERS || 10000);
const ORDERS = Number(__ENV.ORDERS || 100000);
// The script writes through one token: two paced writers keep it within the write quota.
const WRITERS = 2;
const STATUSES = ['pending', 'paid', 'shipped', 'cancelled'];

function pick(n) {
  return 1 + Math.floor(Math.random() * n);
}

function get(path, name) {
  const res = http.get(`${BASE_URL}${path}`, { tags: { name } });
  check(res, { [`${name} is 200`]: (r) => r.status === 200 });
}

function createOrder() {
  const body = JSON.stringify({
    customer_id: pick(CUSTOMERS),
    lines: [{ sku: `SKU-${pick(500)}`, quantity: pick(3), unit_price_cents: 100 * pick(50) }],
  });
  const res = http.post(`${BASE_URL}/orders`, body, {
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
    tags: { name: 'create_order' },
  });
  check(res, { 'create_order is 201': (r) => r.status === 201 });
}

function createCustomer() {
  const body = JSON.stringify({ email: `k6-${exec.vu.idInTest}-${exec.vu.iterationInInstance}-${Date.now()}@example.test`,
    name: 'Load Test' });
  const res = http.post(`${BASE_URL}/customers`, body, {
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
    tags: { name: 'create_customer' },
  });
  check(res, { 'create_customer is 201': (r) => r.status === 201 });
}

export default function () {
  const roll = Math.random();
  if (roll < 0.35) {
    get(`/orders?customer_id=${pick(CUSTOMERS)}&limit=20`, 'orders_by_customer');
  } else if (roll < 0.6) {
    get(`/orders/${pick(ORDERS)}`, 'get_order');
  } else if (roll < 0.75) {
    get(`/orders?status=${STATUSES[pick(4) - 1]}&limit=20`, 'orders_by_status');
  } else if (roll < 0.83) {
    get(`/customers/${pick(CUSTOMERS)}`, 'get_customer');
  } else if (roll < 0.9) {
    get(`/customers?after_id=${pick(CUSTOMERS)}&limit=20`, 'list_customers');
  } else if (exec.vu.idInTest <= WRITERS) {
    if (exec.vu.iterationInInstance % 4 === 0) {
      createCustomer();
    } else {
      createOrder();
    }
    sleep(0.5); // writers stay under the spec's x-rate-limit (600 a minute per token subject)
  } else {
    get(`/orders/${pick(ORDERS)}`, 'get_order');
  }
}
