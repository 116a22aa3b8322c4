import { ApiClient, openSale } from './support/client';
import { ServerProcess } from './support/server';
import { eventually } from '../support/eventually';
import { JwksServer, providerKey, providerToken, publicJwk, signToken } from '../support/identity-provider';

const ISSUER = 'https://idp.e2e.test/';
const AUDIENCE = 'flash-sale-e2e';

/**
 * Bearer tokens of an identity provider (JWT_JWKS_URL): RS256 and ES256 tokens signed with the keys of a JWKS the test
 * serves are accepted on the Nest routes and the reservation route alike; a kid the set does not have makes the api
 * fetch the set again once (a rotation), not once per token; no algorithm confusion; issuer and audience checked.
 */
describe('identity provider tokens (JWT_JWKS_URL)', () => {
  const rsa = providerKey('rsa-1', 'RS256');
  const ec = providerKey('ec-1', 'ES256');
  const jwks = new JwksServer([rsa, ec]);
  let server: ServerProcess;
  let client: ApiClient;
  let saleId: string;
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (sub: string, extra: Record<string, unknown> = {}) => ({ sub, iss: ISSUER, aud: AUDIENCE, exp: now() + 600, iat: now(), ...extra });

  beforeAll(async () => {
    await jwks.start();
    server = new ServerProcess({ label: 'idp', env: { JWT_JWKS_URL: jwks.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE } });
    await server.start();
    client = new ApiClient(server.baseUrl, server.jwtSecret, 8);
    // The api fetches the set as it starts: one hit, before any token.
    await eventually('the key set fetched at start', () => jwks.hits === 1, { seen: () => jwks.hits });
  });
  afterAll(async () => {
    await client.destroy();
    await server.stop();
    server.cleanup();
    await jwks.stop();
  });

  it("accepts RS256 and ES256 tokens of the provider's keys on admin, buyer and reservation routes", async () => {
    const admin = providerToken(rsa, claims('idp-admin', { roles: ['admin'] }));
    const created = await client.request('POST', '/admin/sales', { token: admin, body: openSale() });
    expect(created.status).toBe(201);
    saleId = created.body.id as string;

    const buyer = providerToken(ec, claims('idp-buyer:1'));
    const access = await client.request('GET', `/sales/${saleId}/access`, { token: buyer });
    expect(access.status).toBe(200);
    const reserved = await client.request('POST', `/sales/${saleId}/reservations`, {
      token: buyer,
      headers: { 'idempotency-key': 'idp-key-0001' },
      body: { quantity: 1, purchaseToken: access.body.purchaseToken },
    });
    expect([reserved.status, reserved.body.userId]).toEqual([201, 'idp-buyer:1']);
    // A provider's buyer is no admin.
    expect((await client.request('GET', `/admin/sales/${saleId}`, { token: buyer })).status).toBe(403);
    // HS256 tokens of JWT_SECRET keep working beside them.
    expect((await client.request('GET', `/admin/sales/${saleId}`, { token: client.token('hs-admin', ['admin']) })).status).toBe(200);
    expect(jwks.hits).toBe(1);
  });

  it('fetches the set again, once, for a kid it does not know: a rotated key is accepted, made-up kids are not', async () => {
    const rotated = providerKey('rsa-2', 'RS256');
    jwks.keys = [rsa, ec, rotated];
    const fresh = providerToken(rotated, claims('idp-rotated'));
    const answers = await Promise.all([1, 2, 3].map(() => client.request('GET', `/sales/${saleId}/access`, { token: fresh })));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(jwks.hits).toBe(2);

    // Within the cooldown (JWT_JWKS_COOLDOWN_MS, 30 s) no kid, known or not, makes it fetch again.
    const stranger = providerKey('made-up', 'ES256');
    for (let i = 0; i < 5; i++) {
      const forged = providerToken(stranger, claims(`stranger-${i}`), { kid: `made-up-${i}` });
      expect((await client.request('GET', `/sales/${saleId}/access`, { token: forged })).status).toBe(401);
    }
    expect(jwks.hits).toBe(2);
  });

  it("refuses an HS256 token signed with the public key's bytes, and an RS256 one signed with JWT_SECRET", async () => {
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
    const confused = [
      signToken({ alg: 'HS256', typ: 'JWT', kid: rsa.kid }, claims('confused-1', { roles: ['admin'] }), pem),
      signToken({ alg: 'HS256', typ: 'JWT', kid: rsa.kid }, claims('confused-2', { roles: ['admin'] }), JSON.stringify(publicJwk(rsa))),
      signToken({ alg: 'HS256', typ: 'JWT', kid: rsa.kid }, claims('confused-3', { roles: ['admin'] }), server.jwtSecret).replace(
        /^[^.]+/,
        Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: rsa.kid })).toString('base64url'),
      ),
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims('nobody', { roles: ['admin'] }))).toString('base64url')}.`,
    ];
    for (const token of confused) {
      expect((await client.request('GET', `/admin/sales/${saleId}`, { token })).status).toBe(401);
      expect((await client.request('POST', `/sales/${saleId}/reservations`, { token, headers: { 'idempotency-key': 'idp-key-0002' }, body: {} })).status).toBe(401);
    }
  });

  it('refuses a token of the right key for another issuer or another audience', async () => {
    for (const extra of [{ iss: 'https://elsewhere.test/' }, { aud: 'another-app' }, { aud: undefined }]) {
      const token = providerToken(rsa, claims('idp-admin', { roles: ['admin'], ...extra }));
      expect((await client.request('GET', `/admin/sales/${saleId}`, { token })).status).toBe(401);
    }
  });
});
