import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { HotSpotRanking, HotSpots } from '@flash/access';
import { Authenticated } from '../auth/auth.guard';

const RANKING_EXAMPLE: HotSpotRanking = {
  sales: [{ key: 'sale-2026-12-24', rate: 812.4 }],
  users: [{ key: 'user-4711', rate: 37.1 }, { key: 'user-42', rate: 1.2 }],
  ips: [{ key: '203.0.113.7', rate: 41.9 }],
};

/** GET /admin/hotspots → `{sales, users, ips}`, each a list of `{key, rate}` by recent request rate (API.md "Operations"). */
@ApiTags('operations')
@Controller('admin/hotspots')
@Authenticated('admin')
export class HotSpotsController {
  constructor(private readonly hotSpots: HotSpots) {}

  @Get()
  @ApiOkResponse({
    description: "the top 10 sales, users and client addresses of this instance by requests per second over the last 10 complete seconds",
    schema: {
      type: 'object',
      properties: Object.fromEntries(
        ['sales', 'users', 'ips'].map((kind) => [
          kind,
          { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, rate: { type: 'number' } }, required: ['key', 'rate'] } },
        ]),
      ),
      example: RANKING_EXAMPLE,
    },
  })
  ranking(): HotSpotRanking {
    return this.hotSpots.ranking();
  }
}
