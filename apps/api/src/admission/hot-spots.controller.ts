import { Controller, Get } from '@nestjs/common';
import { HotSpotRanking, HotSpots } from '@flash/access';
import { Authenticated } from '../auth/auth.guard';

/** GET /admin/hotspots → `{sales, users, ips}`, each a list of `{key, rate}` by recent request rate (API.md "Operations"). */
@Controller('admin/hotspots')
@Authenticated('admin')
export class HotSpotsController {
  constructor(private readonly hotSpots: HotSpots) {}

  @Get()
  ranking(): HotSpotRanking {
    return this.hotSpots.ranking();
  }
}
