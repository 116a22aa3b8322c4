import { securityHeaders } from './security-headers';

describe('securityHeaders', () => {
  it('are those of a JSON API: nothing loaded or framed, no sniffing, no referrer, HTTPS pinned, same-origin only', () => {
    expect(securityHeaders()).toEqual({
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'cross-origin-resource-policy': 'same-origin',
      'referrer-policy': 'no-referrer',
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
    });
  });
});
