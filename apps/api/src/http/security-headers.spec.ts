import { securityHeaders } from './security-headers';

describe('securityHeaders', () => {
  it("holds helmet's headers with a CSP that loads nothing and allows no framing", () => {
    const headers = securityHeaders();
    expect(headers['Content-Security-Policy']).toContain("default-src 'none'");
    expect(headers['Content-Security-Policy']).toContain("frame-ancestors 'none'");
    expect(headers['X-Content-Type-Options']).toBe('nosniff');
    expect(headers['Strict-Transport-Security']).toMatch(/max-age=\d+/);
    expect(headers['X-Frame-Options']).toBe('SAMEORIGIN');
  });
});
