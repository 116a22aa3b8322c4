import { Command } from '@nestjs/cqrs';
import { SaleDefinition } from '@flash/domain';

export class ScheduleSaleCommand extends Command<SaleDefinition> {
  constructor(
    readonly definition: SaleDefinition,
    readonly adminId: string,
  ) {
    super();
  }
}
