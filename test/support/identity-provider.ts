import { createHmac, generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import http, { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One signing key of a test identity provider: its private half signs, its public half is in the JWKS. */
export interface ProviderKey {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export const providerKey = (kid: string, alg: 'RS256' | 'ES256'): ProviderKey => {
  const pair = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, alg, ...pair };
};

/** The public JWK of a key, as a provider publishes it. */
export const publicJwk = (key: ProviderKey): Record<string, unknown> => ({ ...key.publicKey.export({ format: 'jwk' }), kid: key.kid, alg: key.alg, use: 'sig' });

const segment = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A JWS compact token signed by hand (node:crypto), so that the tests do not sign with the library that verifies:
 * RS256 (PKCS#1 v1.5), ES256 (the raw r‖s form JWS uses), or HS256 with any bytes as its key.
 */
export const signToken = (header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject | Buffer | string): string => {
  const input = `${segment(header)}.${segment(claims)}`;
  let signature: Buffer;
  if (header.alg === 'RS256') signature = sign('sha256', Buffer.from(input), key);
  else if (header.alg === 'ES256') signature = sign('sha256', Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  else signature = createHmac('sha256', key).update(input).digest();
  return `${input}.${signature.toString('base64url')}`;
};

/** A token of `key`, with the header a provider writes (its alg and kid) unless `header` says otherwise. */
export const providerToken = (key: ProviderKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string =>
  signToken({ alg: key.alg, typ: 'JWT', kid: key.kid, ...header }, claims, key.privateKey);

/** A JWKS endpoint on 127.0.0.1 serving the keys it is given (changeable: a rotation), counting its hits. */
export class JwksServer {
  private server: Server | undefined;
  keys: ProviderKey[];
  hits = 0;

  constructor(keys: ProviderKey[]) {
    this.keys = keys;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      this.hits++;
      const body = JSON.stringify({ keys: this.keys.map(publicJwk) });
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
