import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';

/** Whether the hop at `address` (i-th from the socket) is a proxy whose X-Forwarded-For entry is believed. */
export type ProxyTrust = (address: string, hop: number) => boolean;

/**
 * Who the client is: the one definition both ways in use (Fastify's `trustProxy` for its routes, `clientAddress` for
 * the reservation fast path), so per-IP limits, the IP blacklist and the refusal counts see the same address whatever
 * path a request takes. Without trusted proxies it is the socket's peer and X-Forwarded-For is ignored. With them,
 * X-Forwarded-For is walked from the right, past trusted hops only: the first untrusted address is the client, so an
 * entry the client wrote itself (to the left of what the proxy appended) is never believed.
 */
export class ClientAddresses {
  readonly trust: ProxyTrust | undefined;

  constructor(trustedProxies: readonly string[]) {
    this.trust = trustedProxies.length === 0 ? undefined : proxyAddr.compile([...trustedProxies]);
  }

  /** The address to give Fastify as `trustProxy`: false when no proxy is trusted. */
  get fastifyTrustProxy(): ProxyTrust | false {
    return this.trust ?? false;
  }

  of(req: IncomingMessage): string {
    if (this.trust === undefined) return req.socket.remoteAddress ?? '';
    return proxyAddr(req, this.trust);
  }

  /** A socket from a trusted proxy carries many clients' requests: per-address connection caps do not apply to it. */
  isTrustedProxy(socketAddress: string): boolean {
    return this.trust?.(socketAddress, 0) === true;
  }
}
