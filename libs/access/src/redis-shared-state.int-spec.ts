import { eventually } from '../../../test/support/eventually';
import { RedisServer } from '../../../test/support/redis-server';
import { RedisSharedAccessState } from './redis-shared-state';

RedisServer.describeWithRedis('blacklist and degradation shared through Redis (own redis-server)', () => {
  const server = new RedisServer();
  beforeAll(() => server.start());
  afterAll(() => server.stop());

  it('a blacklist entry added on one instance blocks on another, and its removal unblocks there too', async () => {
    const a = await RedisSharedAccessState.connect(server.url, Date.now);
    const b = await RedisSharedAccessState.connect(server.url, Date.now);
    await a.blacklist.add({ userId: 'mallory' }, 'bot farm');
    await a.blacklist.add({ ip: '::ffff:10.0.0.7' }, 'scraper');
    await eventually('both entries to reach instance b', () => b.blacklist.match({ userId: 'mallory' }) !== undefined && b.blacklist.match({ ip: '10.0.0.7' }) !== undefined);
    expect(b.blacklist.match({ userId: 'mallory' })).toMatchObject({ entry: 'user:mallory', reason: 'bot farm' });
    expect(b.blacklist.match({ userId: 'alice' })).toBeUndefined();

    expect(await b.blacklist.remove('user:mallory')).toBe(true);
    await eventually('the removal to reach instance a', () => a.blacklist.match({ userId: 'mallory' }) === undefined);
    expect(await a.blacklist.list()).toHaveLength(1);
    await a.close();
    await b.close();
  });

  it('a degradation level set on one instance reaches the others and their listeners', async () => {
    const a = await RedisSharedAccessState.connect(server.url, Date.now);
    const b = await RedisSharedAccessState.connect(server.url, Date.now);
    const seen: number[] = [];
    b.degradation.onChange((level) => seen.push(level));
    await a.degradation.set(2);
    await eventually('level 2 to reach instance b', () => b.degradation.current() === 2, { seen: () => b.degradation.current() });
    await a.degradation.set(0);
    await eventually('level 0 to reach instance b', () => b.degradation.current() === 0, { seen: () => b.degradation.current() });
    expect(seen).toEqual([2, 0]);
    // A new instance starts from the shared level, not from 0.
    await a.degradation.set(3);
    const c = await RedisSharedAccessState.connect(server.url, Date.now);
    expect(c.degradation.current()).toBe(3);
    await a.degradation.set(0);
    for (const s of [a, b, c]) await s.close();
  });
});
