import { ApiClient, openSale } from './support/client';
import { ServerProcess } from './support/server';

describe('process lifecycle', () => {
  it('drains on SIGTERM, exits 0, and finds everything again after a restart', async () => {
    const server = new ServerProcess({ env: { LOG_LEVEL: 'info' } });
    await server.start();
    let client = new ApiClient(server.baseUrl, server.jwtSecret, 32);
    const admin = client.token('admin-1', ['admin']);
    const saleId = (await client.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: 50, shards: 4, perUserLimit: 1 }) })).body
      .id as string;
    const users = Array.from({ length: 40 }, (_, i) => `term-${i}`);
    const tokens = await Promise.all(users.map(async (u) => (await client.request('GET', `/sales/${saleId}/access`, { token: client.token(u) })).body.purchaseToken));

    // Fire the purchases and the SIGTERM together: whatever was answered 201 must survive.
    const inFlight = users.map((u, i) =>
      client
        .request('POST', `/sales/${saleId}/reservations`, {
          token: client.token(u),
          headers: { 'idempotency-key': `term-key-${i}-xxxx` },
          body: { quantity: 1, purchaseToken: tokens[i] },
        })
        .catch(() => undefined),
    );
    await new Promise((r) => setTimeout(r, 5));
    const exit = server.stop('SIGTERM');
    const answers = await Promise.all(inFlight);
    const code = await exit;
    if (code !== 0) console.error(server.logs);
    expect(code).toBe(0);
    const acked = answers.filter((a) => a?.status === 201);

    await client.destroy();
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret, 32);
    for (const a of acked) {
      const order = await client.request('GET', `/orders/${a!.body.orderId}`, { token: admin });
      expect(order.status).toBe(200);
    }
    const view = await client.request('GET', `/admin/sales/${saleId}`, { token: admin });
    expect(view.body.totals.reserved).toBeGreaterThanOrEqual(acked.length);
    expect(view.body.totals.reserved + view.body.totals.available).toBe(50);
    await client.destroy();
    expect(await server.stop('SIGTERM')).toBe(0);
    server.cleanup();
  });
});
