import { localBaseUrl } from './demo-sale';

describe('localBaseUrl', () => {
  it('names the bound address, or loopback for a wildcard bind, so the printed URL opens in a browser here', () => {
    expect(localBaseUrl({ host: '127.0.0.1', port: 3000 })).toBe('http://127.0.0.1:3000');
    expect(localBaseUrl({ host: '0.0.0.0', port: 8080 })).toBe('http://127.0.0.1:8080');
    expect(localBaseUrl({ host: '::', port: 3000 })).toBe('http://127.0.0.1:3000');
    expect(localBaseUrl({ host: '::1', port: 3000 })).toBe('http://[::1]:3000');
    expect(localBaseUrl({ host: 'shop.example', port: 443 })).toBe('http://shop.example:443');
  });
});
