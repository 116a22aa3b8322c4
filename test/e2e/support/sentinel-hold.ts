import { ApiClient, openSale } from './client';

/**
 * A one-unit hold of one second, on a sale of its own, placed now: once it has expired, a later sweep of the sagas has
 * run (sweeps never overlap), so anything a sweep still had to do about earlier holds is in the log by then.
 * Answers the hold's order id.
 */
export const placeSentinelHold = async (client: ApiClient, admin: string, idempotencyKey: string): Promise<string> => {
  const sale = await client.request('POST', '/admin/sales', { token: admin, body: openSale({ totalStock: 1, shards: 1, perUserLimit: 1, holdTtlMs: 1000 }) });
  if (sale.status !== 201) throw new Error(`the sentinel sale was refused: ${sale.status} ${JSON.stringify(sale.body)}`);
  const saleId = sale.body.id as string;
  const token = client.token(`${idempotencyKey}-buyer`);
  const access = await client.request('GET', `/sales/${saleId}/access`, { token });
  const hold = await client.request('POST', `/sales/${saleId}/reservations`, {
    token,
    headers: { 'idempotency-key': idempotencyKey },
    body: { quantity: 1, purchaseToken: access.body.purchaseToken },
  });
  if (hold.status !== 201) throw new Error(`the sentinel hold was refused: ${hold.status} ${JSON.stringify(hold.body)}`);
  return hold.body.orderId as string;
};
