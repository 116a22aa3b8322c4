import { createHash } from 'node:crypto';
import { Body, Controller, Headers, Ip, Param, Post, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { FastifyReply } from 'fastify';
import { PurchaseRoute } from '../../access/purchase-route.decorator';
import { Authenticated, CurrentPrincipal } from '../../auth/auth.guard';
import { Principal } from '../../auth/jwt.service';
import { ApiError } from '../../http/error-catalogue';
import { parseBody } from '../../http/json-body';
import { ReservationBody, ReserveStockCommand } from './reserve-stock.command';
import { IDEMPOTENCY_KEY_PATTERN, ReservationRequest } from './reserve-stock.dto';

/** Client IPs are kept in event metadata only as a hash (enough to spot a farm, not to identify a person). */
export const hashClientIp = (ip: string): string => createHash('sha256').update(`client-ip\n${ip}`).digest('base64url').slice(0, 22);

@Controller('sales/:id/reservations')
export class ReserveStockController {
  constructor(private readonly commands: CommandBus) {}

  @Post()
  @Authenticated()
  @PurchaseRoute('reservation')
  async reserve(
    @Param('id') saleId: string,
    @CurrentPrincipal() principal: Principal,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Body() rawBody: unknown,
    @Ip() ip: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ReservationBody> {
    if (idempotencyKey === undefined || !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
      throw new ApiError('VALIDATION_FAILED', 'the Idempotency-Key header is required: 8–128 printable ASCII characters');
    }
    const body = parseBody(ReservationRequest, rawBody);
    const result = await this.commands.execute(
      new ReserveStockCommand(saleId, principal.userId, idempotencyKey, body.quantity, body.purchaseToken, hashClientIp(ip), body.challengeAnswer),
    );
    void reply.status(result.created ? 201 : 200);
    return result.body;
  }
}
