import { errorResponses } from './error-responses';

describe('errorResponses', () => {
  it('groups the codes by their status, each with an example of the envelope and Retry-After on 429 and 503', () => {
    const responses = errorResponses(['SOLD_OUT', 'SALE_ENDED', 'BLOCKED', 'LIMIT_EXCEEDED', 'RATE_LIMITED']);
    expect(Object.keys(responses)).toEqual(['403', '409', '429']);
    expect(responses['403']?.['x-error-codes']).toEqual(['SALE_ENDED', 'BLOCKED']);
    expect(responses['409']?.['x-error-codes']).toEqual(['SOLD_OUT', 'LIMIT_EXCEEDED']);
    expect(responses['409']?.content?.['application/json']?.examples?.SOLD_OUT).toEqual({
      summary: 'SOLD_OUT',
      value: { error: { code: 'SOLD_OUT', message: expect.any(String), retryable: false } },
    });
    expect(responses['429']?.content?.['application/json']?.examples?.RATE_LIMITED).toEqual({
      summary: 'RATE_LIMITED (retryable)',
      value: { error: { code: 'RATE_LIMITED', message: expect.any(String), retryable: true, retryAfterMs: 1000 } },
    });
    expect(responses['429']?.headers?.['Retry-After']).toBeDefined();
    expect(responses['409']?.headers).toBeUndefined();
  });
});
