import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { RetryLater, SaleCommand, saleDecider, SaleDefinition, SaleEvent, SaleState, saleStream } from '@flash/domain';
import { EventStore } from '@flash/event-store';
import { Clock, CLOCK, decideAndAppend, LogIndexer } from '@flash/command-side';
import { EVENT_STORE } from '@flash/runtime';
import { correlatedWith } from '../../http/request-id';
import { ScheduleSaleCommand } from './schedule-sale.command';

/** Read the sale stream, decide, append with the expected revision: the whole command path on one screen. */
@CommandHandler(ScheduleSaleCommand)
export class ScheduleSaleHandler implements ICommandHandler<ScheduleSaleCommand> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly indexes: LogIndexer,
  ) {}

  async execute({ definition, adminId, requestId }: ScheduleSaleCommand): Promise<SaleDefinition> {
    const now = this.clock.now();
    const command: SaleCommand = { type: 'ScheduleSale', definition };
    const { events } = await decideAndAppend<SaleState, SaleEvent>(this.store, {
      streamId: saleStream(definition.saleId),
      evolve: saleDecider.evolve,
      initial: saleDecider.initialState(),
      decide: (state) => saleDecider.decide(command, state, now),
      metadata: { ...correlatedWith(requestId), userId: adminId, decidedAt: now },
      exhausted: () => new RetryLater('OVERLOADED', `sale ${definition.saleId} is being changed concurrently; retry`, 1000),
    });
    // Read-your-writes: the sale routes before the log subscription brings it back.
    for (const e of events) this.indexes.apply(e);
    return definition;
  }
}
