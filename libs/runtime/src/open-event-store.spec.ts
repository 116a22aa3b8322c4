import { API_FOLLOW_MS, apiFollowEveryMs } from './open-event-store';

describe("apiFollowEveryMs: the api's follow pace on a server store", () => {
  it('paces the followers only where replicas share the store (REDIS_URL set): one api reads at its own commits', () => {
    expect(API_FOLLOW_MS).toBeGreaterThan(0);
    expect(apiFollowEveryMs({ redisUrl: 'redis://127.0.0.1:6379' })).toBe(API_FOLLOW_MS);
    expect(apiFollowEveryMs({ redisUrl: undefined })).toBe(0);
  });
});
