import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Admission, AdmissionQueue, AdmissionRate, LivePlace, OverloadShedder, QueueTickets } from '@flash/access';
import { NotFound, SaleDefinition, SaleEnded, SoldOut, WaitingRoomSettings } from '@flash/domain';
import { CatalogSale, Clock, CLOCK, Inventories, SaleCatalogue } from '@flash/command-side';
import { RoomWaitLog } from '@flash/read-models';
import { APP_CONFIG, AppConfig, Logger, LOGGER } from '@flash/runtime';
import { ApiError } from '../../http/error-catalogue';
import { HotPathCounters } from '../../metrics/hot-path-counters';
import { WaitingRoomMetrics } from '../../metrics/waiting-room-metrics';
import { SagaHost } from '../../sagas/saga-host';
import { PurchaseGrant, PurchaseGrants } from '../issue-purchase-token/purchase-grants';
import { hashClientIp } from '../reserve-stock/reservation.pipeline';
import { ADMISSION_QUEUE } from './waiting-room.tokens';

/** How often each process's pump asks the line who is next: several admissions per tick at a few hundred per second. */
export const PUMP_INTERVAL_MS = 20;
/** How often the rate rule samples the back end. */
export const RATE_STEP_MS = 1000;
/** A pump held up (GC, a busy event loop) makes up at most this much of its missed admissions. */
export const MAX_CATCH_UP_MS = 500;
const WARN_EVERY_MS = 10_000;
/** A sale's line is kept this long past the sale's end. */
const RETAIN_AFTER_END_MS = 3_600_000;

/** GET /sales/:id/queue/:ticket while waiting, and the 202 of GET /sales/:id/access. */
export interface QueuePosition {
  readonly position: number;
  readonly estimatedWaitMs: number;
}

export type QueueEntry = QueuePosition & { readonly queueTicket: string };

/** What entering a room-on sale gives: a place in line, or (already admitted) the grant. */
export type RoomAnswer = { readonly status: 202; readonly body: QueueEntry } | { readonly status: 200; readonly body: PurchaseGrant };

/** An admitted buyer's grant carries when they were admitted (server time), which tests and clients may read. */
export type AdmittedGrant = PurchaseGrant & { readonly admittedAt: string };

const roomOf = (sale: SaleDefinition): WaitingRoomSettings | undefined => (sale.waitingRoom?.enabled === true ? sale.waitingRoom : undefined);

/**
 * The virtual waiting room of issue #26. A sale with its room on hands out no purchase token at the door: the
 * buyer gets a signed ticket and a place in line; each api process runs a pump that lets the line through in
 * ticket order at the sale's admitPerSecond (times the share the back end allows: AdmissionRate); an admitted
 * buyer's ticket then yields the purchase token, marked as admitted, until the slot (tokenTtlMs) ends. Once the
 * sale is sold out the pump stops and every ticket answers SOLD_OUT.
 */
@Injectable()
export class WaitingRoom implements OnModuleInit, OnModuleDestroy {
  private pump: NodeJS.Timeout | undefined;
  private rateStep: NodeJS.Timeout | undefined;
  private pumping = false;
  /** A Redis outage would fail every tick (50 a second): its warning is logged once per WARN_EVERY_MS. */
  private lastWarnAt = Number.NEGATIVE_INFINITY;

  constructor(
    @Inject(ADMISSION_QUEUE) private readonly queue: AdmissionQueue,
    private readonly tickets: QueueTickets,
    private readonly rate: AdmissionRate,
    private readonly grants: PurchaseGrants,
    private readonly catalogue: SaleCatalogue,
    private readonly inventory: Inventories,
    private readonly shedder: OverloadShedder,
    private readonly counters: HotPathCounters,
    private readonly sagas: SagaHost,
    private readonly metrics: WaitingRoomMetrics,
    private readonly waits: RoomWaitLog,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    this.metrics.report({
      sales: () => this.openRooms(this.clock.now()).map((sale) => sale.definition.saleId),
      length: (saleId) => this.queue.length(saleId),
      rate: (saleId) => this.rateOf(this.catalogue.sale(saleId)?.definition),
    });
    this.pump = setInterval(() => void this.admitDue(), PUMP_INTERVAL_MS).unref();
    this.rateStep = setInterval(() => this.stepRate(), RATE_STEP_MS).unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.pump);
    clearInterval(this.rateStep);
    await this.queue.close();
  }

  /** Whether the sale sends buyers through the room (GET /sales/:id/access asks before handing out a token). */
  isOn(sale: SaleDefinition): boolean {
    return roomOf(sale) !== undefined;
  }

  /** GET /sales/:id/access of a room-on sale, once it is open: a place in line (the live one if any), or the grant. */
  async enter(sale: SaleDefinition, userId: string, ip: string, now: number): Promise<RoomAnswer> {
    const room = roomOf(sale) as WaitingRoomSettings;
    const joined = await this.queue.join({
      saleId: sale.saleId,
      userId,
      ipKey: hashClientIp(ip),
      now,
      admittedTtlMs: room.tokenTtlMs,
      maxTicketsPerIp: this.maxTicketsPerIp(),
      retainMs: Math.max(sale.endsAt - now, 0) + RETAIN_AFTER_END_MS,
    });
    if (joined.kind === 'ip-limited') {
      throw new ApiError('RATE_LIMITED', 'this address holds too many waiting-room tickets for this sale', { retryAfterMs: 60_000 });
    }
    if (joined.kind === 'admitted') return { status: 200, body: await this.admittedGrant(sale, room, userId, joined.admittedAt, now) };
    return { status: 202, body: { queueTicket: this.tickets.issue(userId, sale.saleId, joined.seq), ...this.positionOf(sale, joined.position) } };
  }

  /** GET /sales/:id/queue/:ticket: 404 unless it is the caller's live ticket; SOLD_OUT / SALE_ENDED once so. */
  async status(saleId: string, ticket: string, userId: string): Promise<QueuePosition | AdmittedGrant> {
    const sale = this.catalogue.sale(saleId);
    const room = sale ? roomOf(sale.definition) : undefined;
    const seq = room ? this.tickets.read(ticket, userId, saleId) : undefined;
    if (!sale || !room || seq === undefined) throw new NotFound('queue ticket', ticket);
    const now = this.clock.now();
    const place: LivePlace | { kind: 'none' } = await this.queue.place(saleId, userId, seq, now, room.tokenTtlMs);
    if (place.kind === 'none') throw new NotFound('queue ticket', ticket);
    if (sale.closed || now >= sale.definition.endsAt) throw new SaleEnded(saleId);
    if (await this.soldOut(saleId)) throw new SoldOut(saleId);
    if (place.kind === 'waiting') return this.positionOf(sale.definition, place.position);
    return this.admittedGrant(sale.definition, room, userId, place.admittedAt, now);
  }

  /** One pump tick: every open, not sold-out room lets through whoever's turn has come. Never overlaps itself. */
  async admitDue(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const now = this.clock.now();
      for (const sale of this.openRooms(now)) {
        const { saleId } = sale.definition;
        if (await this.soldOut(saleId)) continue;
        const admitted = await this.queue.admit({ saleId, now, intervalMs: 1000 / this.rateOf(sale.definition), maxCatchUpMs: MAX_CATCH_UP_MS });
        this.noteAdmitted(saleId, admitted);
      }
    } catch (error) {
      const now = this.clock.now();
      if (now - this.lastWarnAt >= WARN_EVERY_MS) {
        this.lastWarnAt = now;
        this.logger.warn({ err: error }, 'waiting room: admission tick failed; the next ticks retry');
      }
    } finally {
      this.pumping = false;
    }
  }

  /** One step of the rate rule (AdmissionRate) on this process's view of the back end. */
  stepRate(): void {
    const processes = this.sagas.status(this.clock.now())?.processes ?? {};
    this.rate.step({
      eventLoopDelayMs: this.shedder.eventLoopDelayMs,
      appendLatencyMs: this.counters.takeMeanAppendMs(),
      sagaBacklog: Object.values(processes).reduce((sum, p) => sum + p.backlog, 0),
    });
  }

  /** Prometheus (this process) and the analytics summary (every process's admissions, RoomWaitLog). */
  private noteAdmitted(saleId: string, admitted: readonly Admission[]): void {
    const waits = admitted.map((a) => a.admittedAt - a.joinedAt);
    this.metrics.admitted(saleId, waits);
    for (const wait of waits) this.waits.record(saleId, wait);
  }

  /**
   * The purchase token of an admitted buyer. Not for a ticket taken from an address that has been refused as many new
   * tickets as it may hold (WAITING_ROOM_TICKETS_PER_IP, with the access limits on): twice a household's worth of
   * accounts asked from it, a farm's mark. Checked at the hand-out, not at the join, so the farm's first tickets, taken
   * before it showed itself, buy nothing either; a large shared address (a campus, a carrier's NAT) pays for it.
   */
  private async admittedGrant(sale: SaleDefinition, room: WaitingRoomSettings, userId: string, admittedAt: number, now: number): Promise<AdmittedGrant> {
    const maxTicketsPerIp = this.maxTicketsPerIp();
    if (maxTicketsPerIp > 0 && (await this.queue.turnedAwayAtJoinAddress(sale.saleId, userId)) >= maxTicketsPerIp) {
      throw new ApiError('BLOCKED', 'this ticket was taken from an address that asked for more tickets than it may hold');
    }
    const grant = await this.grants.grant(sale, userId, now, { endsAt: admittedAt + room.tokenTtlMs });
    return { ...grant, admittedAt: new Date(admittedAt).toISOString() };
  }

  /** New tickets one address may take per sale; 0 (no limit) with the access limits off. */
  private maxTicketsPerIp(): number {
    return this.config.accessLimits ? this.config.waitingRoomTicketsPerIp : 0;
  }

  private positionOf(sale: SaleDefinition, position: number): QueuePosition {
    return { position, estimatedWaitMs: Math.ceil((position * 1000) / this.rateOf(sale)) };
  }

  private rateOf(sale: SaleDefinition | undefined): number {
    const room = sale ? roomOf(sale) : undefined;
    return room ? this.rate.rateFor(room.admitPerSecond) : 0;
  }

  private openRooms(now: number): CatalogSale[] {
    return this.catalogue
      .allSales()
      .filter((sale) => roomOf(sale.definition) !== undefined && !sale.closed && now >= sale.definition.startsAt && now < sale.definition.endsAt);
  }

  private async soldOut(saleId: string): Promise<boolean> {
    return (await this.inventory.forSale(saleId)).soldOut();
  }
}
