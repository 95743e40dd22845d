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
// The script writes through one token: two writer VUs keep it within the write quota.
const WRITERS = 2;
// Think time: a person (or a client service) reads a page before asking for the next one,
// here 0.5 to 1 s, drawn afresh each time so that VUs do not march in step. Without it each VU
// sends its next request the instant the last one answers, and 20 VUs become a flood that
// saturates a 2-core machine shared by k6, PostgreSQL and the service: p95 then measures the
// queue, not the service. The SLA holds for users who think; THINK_MIN_S/THINK_MAX_S change it
// (0 and 0: the old flood, for a stress test).
const THINK_MIN_S = Number(__ENV.THINK_MIN_S || 0.5);
const THINK_MAX_S = Number(__ENV.THINK_MAX_S || 1.0);
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
  const n = exec.vu.iterationInInstance;
  if (n === 0) {
    sleep(Math.random() * THINK_MAX_S); // users arrive over a moment, not all in the same millisecond
  }
  // The writers write on every fifth iteration from the fifth (a customer, then orders), so that
  // even a short run has samples of both writes, none in the first instant while the service's
  // pools still grow; with the think time that is well under the spec's x-rate-limit (600 a minute
  // per token subject).
  if (exec.vu.idInTest <= WRITERS && n % 5 === 4) {
    if (n % 20 === 4) {
      createCustomer();
    } else {
      createOrder();
    }
  } else {
    read(Math.random());
  }
  sleep(THINK_MIN_S + Math.random() * (THINK_MAX_S - THINK_MIN_S));
}

function read(roll) {
  if (roll < 0.35) {
    get(`/orders?customer_id=${pick(CUSTOMERS)}&limit=20`, 'orders_by_customer');
  } else if (roll < 0.65) {
    get(`/orders/${pick(ORDERS)}`, 'get_order');
  } else if (roll < 0.8) {
    get(`/orders?status=${STATUSES[pick(4) - 1]}&limit=20`, 'orders_by_status');
  } else if (roll < 0.9) {
    get(`/customers/${pick(CUSTOMERS)}`, 'get_customer');
  } else {
    get(`/customers?after_id=${pick(CUSTOMERS)}&limit=20`, 'list_customers');
  }
}
