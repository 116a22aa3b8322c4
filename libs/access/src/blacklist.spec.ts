import { blacklistEntryName, InMemoryBlacklist, InvalidBlacklistEntry, normaliseIp, parseBlacklistEntry } from './blacklist';

const NOW = 1_900_000_000_000;

describe('InMemoryBlacklist', () => {
  it('blocks a user by id, with the reason and when', async () => {
    const blacklist = new InMemoryBlacklist(() => NOW);
    const added = await blacklist.add({ userId: 'bot-7' }, 'scripted buying');
    expect(added).toEqual({ entry: 'user:bot-7', kind: 'user', value: 'bot-7', reason: 'scripted buying', createdAt: NOW });
    expect(blacklist.match({ userId: 'bot-7', ip: '10.0.0.1' })).toEqual(added);
    expect(blacklist.match({ userId: 'bot-8', ip: '10.0.0.1' })).toBeUndefined();
  });

  it('blocks an address whoever is signed in behind it, IPv4-mapped IPv6 included', async () => {
    const blacklist = new InMemoryBlacklist(() => NOW);
    await blacklist.add({ ip: '127.0.0.1' }, 'farm');
    expect(blacklist.match({ userId: 'anyone', ip: '127.0.0.1' })?.entry).toBe('ip:127.0.0.1');
    expect(blacklist.match({ userId: 'anyone', ip: '::ffff:127.0.0.1' })?.entry).toBe('ip:127.0.0.1');
    expect(blacklist.match({ userId: 'anyone', ip: '127.0.0.2' })).toBeUndefined();
  });

  it('compares IPv6 addresses in canonical form', async () => {
    const blacklist = new InMemoryBlacklist(() => NOW);
    const added = await blacklist.add({ ip: '2001:DB8:0:0::1' }, 'farm');
    expect(added.entry).toBe('ip:2001:db8::1');
    expect(blacklist.match({ ip: '2001:db8::0:1' })?.entry).toBe('ip:2001:db8::1');
  });

  it('removes an entry by its name and says whether there was one', async () => {
    const blacklist = new InMemoryBlacklist(() => NOW);
    await blacklist.add({ userId: 'bot-7' }, 'scripted buying');
    await blacklist.add({ ip: '10.0.0.9' }, 'farm');
    expect(await blacklist.remove('user:bot-7')).toBe(true);
    expect(await blacklist.remove('user:bot-7')).toBe(false);
    expect(blacklist.match({ userId: 'bot-7' })).toBeUndefined();
    expect((await blacklist.list()).map((e) => e.entry)).toEqual(['ip:10.0.0.9']);
  });

  it('replaces the entry when the same target is added again', async () => {
    let time = NOW;
    const blacklist = new InMemoryBlacklist(() => time);
    await blacklist.add({ userId: 'bot-7' }, 'first');
    time += 5;
    await blacklist.add({ userId: 'bot-7' }, 'second');
    expect(await blacklist.list()).toEqual([expect.objectContaining({ entry: 'user:bot-7', reason: 'second', createdAt: NOW + 5 })]);
  });

  it('refuses an address that is not one, and entry names of no known kind', async () => {
    const blacklist = new InMemoryBlacklist(() => NOW);
    await expect(blacklist.add({ ip: 'example.com' }, 'x')).rejects.toThrow(InvalidBlacklistEntry);
    await expect(blacklist.remove('bot-7')).rejects.toThrow(InvalidBlacklistEntry);
    await expect(blacklist.remove('ip:not-an-ip')).rejects.toThrow(InvalidBlacklistEntry);
    await expect(blacklist.remove('user:')).rejects.toThrow(InvalidBlacklistEntry);
  });
});

describe('blacklist entry names', () => {
  it('round-trip through parse and name', () => {
    for (const name of ['user:buyer-1', 'user:a:b', 'ip:10.0.0.1', 'ip:2001:db8::1']) expect(blacklistEntryName(parseBlacklistEntry(name))).toBe(name);
  });

  it('normalise addresses', () => {
    expect(normaliseIp(' ::FFFF:10.1.2.3 ')).toBe('10.1.2.3');
    expect(normaliseIp('::1')).toBe('::1');
  });
});
