import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { saleDecider, SaleDefinition, saleStream } from '@flash/domain';
import { encodeEvent, EventStore, loadStream } from '@flash/event-store';
import { Clock, CLOCK } from '../../clock';
import { EVENT_STORE } from '../../store/event-store.provider';
import { SaleCatalog } from '../sale-catalog';
import { ScheduleSaleCommand } from './schedule-sale.command';

/** Read the sale stream, decide, append with the expected revision: the whole command path on one screen. */
@CommandHandler(ScheduleSaleCommand)
export class ScheduleSaleHandler implements ICommandHandler<ScheduleSaleCommand> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly catalog: SaleCatalog,
  ) {}

  async execute({ definition, adminId }: ScheduleSaleCommand): Promise<SaleDefinition> {
    const streamId = saleStream(definition.saleId);
    const { state, expectedRevision } = await loadStream(this.store, streamId, saleDecider.evolve, saleDecider.initialState());
    const now = this.clock.now();
    const events = saleDecider.decide({ type: 'ScheduleSale', definition }, state, now);
    await this.store.append(
      streamId,
      events.map((e) => encodeEvent(streamId, e, { userId: adminId, decidedAt: now })),
      expectedRevision,
    );
    for (const e of events) this.catalog.apply(e);
    return definition;
  }
}
