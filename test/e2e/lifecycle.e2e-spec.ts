import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiClient, openSale } from './support/client';
import { runUntilExit, ServerProcess } from './support/server';
import { freePort } from '../support/free-port';

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

  describe('secrets with DEMO=0', () => {
    const STRONG = 'k'.repeat(32);
    const refusal = async (env: Record<string, string>) => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-secrets-'));
      try {
        return await runUntilExit({ DEMO: '0', PORT: String(await freePort()), DATA_DIR: dataDir, ...env });
      } finally {
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    };

    it('refuses to start with JWT_SECRET=a, naming JWT_SECRET, and exits non-zero', async () => {
      const { code, output } = await refusal({ JWT_SECRET: 'a', PAYMENT_WEBHOOK_SECRET: STRONG });
      expect(code).not.toBe(0);
      expect(output).toContain('JWT_SECRET must be at least 32 bytes when DEMO=0, got 1');
    });

    // Every other shape of a missing or short secret is in config.spec.ts.
    it.each([
      ['JWT_SECRET a single space', { JWT_SECRET: ' ', PAYMENT_WEBHOOK_SECRET: STRONG }, 'JWT_SECRET must be at least 32 bytes'],
      ['PAYMENT_WEBHOOK_SECRET unset', { JWT_SECRET: STRONG }, 'PAYMENT_WEBHOOK_SECRET must be set'],
    ])('refuses to start with %s, naming the variable', async (_label, env, message) => {
      const { code, output } = await refusal(env);
      expect(code).not.toBe(0);
      expect(output).toContain(message);
    });

    it('starts in demo mode without secrets (generated for the run)', async () => {
      const server = new ServerProcess({ env: { DEMO: '1', JWT_SECRET: '', PAYMENT_WEBHOOK_SECRET: '' } });
      await server.start();
      try {
        // The demo instructions are printed once the demo sale is scheduled, just after the server is ready.
        const deadline = Date.now() + 10_000;
        while (!server.logs.includes('JWT_SECRET (generated for this run)') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(server.logs).toContain('JWT_SECRET (generated for this run)');
      } finally {
        expect(await server.stop('SIGTERM')).toBe(0);
        server.cleanup();
      }
    });
  });
});
