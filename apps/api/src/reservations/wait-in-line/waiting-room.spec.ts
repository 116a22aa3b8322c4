import { AdmissionRate, InProcessAdmissionQueue, OverloadShedder, QueueTickets } from '@flash/access';
import { SaleDefinition } from '@flash/domain';
import { Inventories, SaleCatalogue } from '@flash/command-side';
import { DocumentStore, RoomWaitLog } from '@flash/read-models';
import { AppConfig, Logger } from '@flash/runtime';
import { HotPathCounters } from '../../metrics/hot-path-counters';
import { WaitingRoomMetrics } from '../../metrics/waiting-room-metrics';
import { SagaHost } from '../../sagas/saga-host';
import { PurchaseGrants } from '../issue-purchase-token/purchase-grants';
import { WaitingRoom } from './waiting-room';

const T0 = 1_800_000_000_000;

const definition: SaleDefinition = {
  saleId: 'sale-1',
  sku: 'SKU',
  name: 'sale',
  price: 100,
  totalStock: 10,
  shards: 1,
  startsAt: T0 - 1000,
  endsAt: T0 + 3_600_000,
  perUserLimit: 1,
  inventoryMode: 'reserve',
  holdTtlMs: 60_000,
  challenge: 'none',
  waitingRoom: { enabled: true, admitPerSecond: 100, tokenTtlMs: 30_000 },
};

/** A WaitingRoom on fakes: a clock the test moves, stock the test sets, back-end signals the test sets. */
const roomWorld = (config: Partial<AppConfig> = {}) => {
  const world = { now: T0, available: 10, eventLoopDelayMs: 0 };
  const catalogue = new SaleCatalogue();
  catalogue.apply({ type: 'SaleScheduled', data: { ...definition, scheduledAt: T0 - 5000 } } as never);
  const counters = new HotPathCounters();
  const waits = new RoomWaitLog({} as DocumentStore);
  const grants = { grant: (sale: SaleDefinition, userId: string) => Promise.resolve({ purchaseToken: `token-${userId}`, expiresAt: new Date(T0).toISOString() }) };
  const room = new WaitingRoom(
    new InProcessAdmissionQueue(),
    new QueueTickets(Buffer.from('k'.repeat(32))),
    new AdmissionRate(),
    grants as unknown as PurchaseGrants,
    catalogue,
    { forSale: () => Promise.resolve({ soldOut: () => Promise.resolve(world.available <= 0) }) } as unknown as Inventories,
    {
      get eventLoopDelayMs() {
        return world.eventLoopDelayMs;
      },
    } as unknown as OverloadShedder,
    counters,
    { status: () => undefined } as unknown as SagaHost,
    new WaitingRoomMetrics(counters),
    waits,
    { now: () => world.now },
    { accessLimits: false, waitingRoomTicketsPerIp: 50, ...config } as AppConfig,
    { warn: () => undefined } as unknown as Logger,
  );
  return { world, room, counters, waits };
};

const ticketOf = async (room: WaitingRoom, userId: string): Promise<string> => {
  const answer = await room.enter(definition, userId, '10.0.0.1', T0);
  if (answer.status !== 202) throw new Error(`expected a place in line for ${userId}`);
  return answer.body.queueTicket;
};

describe('WaitingRoom', () => {
  it('lets the line through in ticket order at admitPerSecond, and hands the admitted their grant', async () => {
    const { world, room } = roomWorld();
    const tickets = [];
    for (const user of ['a', 'b', 'c', 'd']) tickets.push(await ticketOf(room, user));
    await room.admitDue(); // a, at once
    world.now += 25; // two more turns (every 10 ms at 100/s)
    await room.admitDue();
    expect(await room.status('sale-1', tickets[2] as string, 'c')).toMatchObject({ purchaseToken: 'token-c' });
    expect(await room.status('sale-1', tickets[3] as string, 'd')).toEqual({ position: 1, estimatedWaitMs: 10 });
    await expect(room.status('sale-1', tickets[3] as string, 'a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it("hands no purchase token to a ticket from an address refused as many new tickets as it may hold (a farm's mark)", async () => {
    const { world, room } = roomWorld({ accessLimits: true, waitingRoomTicketsPerIp: 2 });
    const join = (user: string, ip: string) => room.enter(definition, user, ip, T0);
    const farmTickets = [];
    for (const bot of ['bot-1', 'bot-2']) farmTickets.push(((await join(bot, '203.0.113.9')).body as { queueTicket: string }).queueTicket);
    const home = ((await join('human', '10.0.0.2')).body as { queueTicket: string }).queueTicket;
    // Turned away once: still a household that asked again with a third account, maybe.
    await expect(join('bot-3', '203.0.113.9')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    world.now += 1000;
    await room.admitDue();
    expect(await room.status('sale-1', farmTickets[0] as string, 'bot-1')).toMatchObject({ purchaseToken: 'token-bot-1' });
    // Turned away twice (as many as it may hold): its tickets, taken before, buy nothing; the household's still does.
    await expect(join('bot-4', '203.0.113.9')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await expect(room.status('sale-1', farmTickets[1] as string, 'bot-2')).rejects.toMatchObject({ code: 'BLOCKED' });
    await expect(join('bot-1', '203.0.113.9')).rejects.toMatchObject({ code: 'BLOCKED' });
    expect(await room.status('sale-1', home, 'human')).toMatchObject({ purchaseToken: 'token-human' });
  });

  it('stops admitting once the sale is sold out and answers SOLD_OUT to everyone still waiting', async () => {
    const { world, room, counters } = roomWorld();
    const admittedTotal = async () => (await counters.registry.getMetricsAsJSON()).find((m) => m.name === 'waiting_room_admitted_total')?.values[0]?.value ?? 0;
    const first = await ticketOf(room, 'a');
    const second = await ticketOf(room, 'b');
    world.available = 0;
    world.now += 1000;
    await room.admitDue();
    expect(await admittedTotal()).toBe(0);
    await expect(room.status('sale-1', second, 'b')).rejects.toMatchObject({ code: 'SOLD_OUT' });
    await expect(room.status('sale-1', first, 'a')).rejects.toMatchObject({ code: 'SOLD_OUT' });
    world.available = 1; // stock back (a hold expired): the line moves on from where it stood
    await room.admitDue();
    expect(await room.status('sale-1', first, 'a')).toMatchObject({ purchaseToken: 'token-a' });
    expect(await admittedTotal()).toBeGreaterThan(0);
  });

  it('steps the rate down while the event loop lags, back up once it recovers, and shows it in /metrics', async () => {
    const { world, room, counters } = roomWorld();
    room.onModuleInit();
    try {
      const rate = async () => (await counters.registry.getMetricsAsJSON()).find((m) => m.name === 'waiting_room_admit_rate')?.values[0]?.value;
      expect(await rate()).toBe(100);
      world.eventLoopDelayMs = 500;
      room.stepRate();
      expect(await rate()).toBe(50);
      await ticketOf(room, 'a');
      const b = await ticketOf(room, 'b');
      expect(await room.status('sale-1', b, 'b')).toEqual({ position: 2, estimatedWaitMs: 40 });
      world.eventLoopDelayMs = 0;
      room.stepRate();
      expect(await rate()).toBe(60);
    } finally {
      await room.onModuleDestroy();
    }
  });
});
