import { Command } from '@nestjs/cqrs';
import { SaleDefinition } from '@flash/domain';

export class ScheduleSaleCommand extends Command<SaleDefinition> {
  constructor(
    readonly definition: SaleDefinition,
    readonly adminId: string,
    /** The HTTP request's id (X-Request-Id), the correlationId of the sale's events; none for the demo seed. */
    readonly requestId?: string,
  ) {
    super();
  }
}
