import { deriveKey, PurchaseTokens } from './purchase-token';

const NOW = 1_800_000_000_000;
const tokens = new PurchaseTokens(deriveKey('master-secret-of-at-least-32-bytes!', 'purchase-token'));

describe('PurchaseTokens', () => {
  it('verifies a token for its user and sale until it expires', () => {
    const { purchaseToken, expiresAt } = tokens.issue('u1', 's1', NOW);
    expect(expiresAt).toBe(NOW + 120_000);
    expect(tokens.verify(purchaseToken, 'u1', 's1', NOW + 1)).toBe(true);
    expect(tokens.verify(purchaseToken, 'u2', 's1', NOW + 1)).toBe(false);
    expect(tokens.verify(purchaseToken, 'u1', 's1', expiresAt)).toBe(false);
  });

  it('tells a token issued on admission from one issued at the door, both ways', () => {
    const direct = tokens.issue('u1', 's1', NOW).purchaseToken;
    const admitted = tokens.issue('u1', 's1', NOW, 'admitted').purchaseToken;
    expect(tokens.verify(direct, 'u1', 's1', NOW + 1, 'admitted')).toBe(false);
    expect(tokens.verify(admitted, 'u1', 's1', NOW + 1, 'admitted')).toBe(true);
    expect(tokens.verify(admitted, 'u1', 's1', NOW + 1)).toBe(false);
  });

  it('ends an admitted token with its slot when the slot ends first', () => {
    const { purchaseToken, expiresAt } = tokens.issue('u1', 's1', NOW, 'admitted', NOW + 5_000);
    expect(expiresAt).toBe(NOW + 5_000);
    expect(tokens.verify(purchaseToken, 'u1', 's1', NOW + 4_999, 'admitted')).toBe(true);
    expect(tokens.verify(purchaseToken, 'u1', 's1', NOW + 5_000, 'admitted')).toBe(false);
  });
});
