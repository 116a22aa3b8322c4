import { randomUUID } from 'node:crypto';
import { INestApplication } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { SaleDefinition } from '@flash/domain';
import { JwtService } from '../auth/jwt.service';
import { AppConfig } from '@flash/runtime';
import { SaleCatalogue } from '@flash/command-side';
import { ScheduleSaleCommand } from '../sales/schedule-sale/schedule-sale.command';
import { toDefinition } from '../sales/schedule-sale/schedule-sale.controller';

export const DEMO_SKU = 'DEMO-SNEAKER-1';

/** The demo sale still scheduled or running, if any. */
export const currentDemoSale = (catalog: SaleCatalogue, now: number): SaleDefinition | undefined =>
  catalog.allSales().find((s) => s.definition.sku === DEMO_SKU && !s.closed && s.definition.endsAt > now)?.definition;

/** Makes sure a demo sale is scheduled or running: reuses the one from a previous run, else starts one in 15 s. */
export const ensureDemoSale = async (app: INestApplication, now: number): Promise<SaleDefinition> => {
  const existing = currentDemoSale(app.get(SaleCatalogue), now);
  if (existing) return existing;
  const definition = toDefinition(randomUUID(), {
    sku: DEMO_SKU,
    name: 'Limited sneaker drop (demo)',
    price: 49_900,
    totalStock: 100,
    shards: 4,
    startsAt: new Date(now + 15_000).toISOString(),
    endsAt: new Date(now + 3_600_000).toISOString(),
    perUserLimit: 2,
    inventoryMode: 'reserve',
    holdTtlMs: 120_000,
    challenge: 'none',
  });
  return app.get(CommandBus).execute(new ScheduleSaleCommand(definition, 'demo'));
};

/** A URL a browser on this machine can open: a wildcard bind address is reached through loopback. */
export const localBaseUrl = (config: Pick<AppConfig, 'host' | 'port'>): string => {
  const host = config.host === '0.0.0.0' || config.host === '::' || config.host === '' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
};

/** What a newcomer needs to try the demo, printed once at start: the sale page first, then the same by hand. */
export const demoInstructions = (app: INestApplication, config: AppConfig, sale: SaleDefinition): string => {
  const jwt = app.get(JwtService);
  const base = localBaseUrl(config);
  const buyer = jwt.sign('alice');
  const admin = jwt.sign('demo-admin', ['admin']);
  return [
    '',
    '  Flash-sale engine — embedded demo',
    '',
    `  Open the sale page:  ${base}/?sale=${sale.saleId}`,
    '',
    `  sale ${sale.saleId} "${sale.name}": ${sale.totalStock} units over ${sale.shards} shards, opens ${new Date(sale.startsAt).toISOString()}`,
    ...(config.jwtSecretGenerated ? [`  JWT_SECRET (generated for this run): ${config.jwtSecret}`] : []),
    '',
    '  Or by hand:',
    `  BUYER=${buyer}`,
    `  ADMIN=${admin}`,
    '',
    `  curl -s ${base}/sales/${sale.saleId}`,
    `  curl -s -H "Authorization: Bearer $BUYER" ${base}/sales/${sale.saleId}/access`,
    `  curl -s -X POST -H "Authorization: Bearer $BUYER" -H "Idempotency-Key: $(uuidgen || date +%s%N)" \\`,
    `       -H 'Content-Type: application/json' -d '{"quantity":1,"purchaseToken":"<from /access>"}' ${base}/sales/${sale.saleId}/reservations`,
    `  curl -s -H "Authorization: Bearer $ADMIN" ${base}/admin/sales/${sale.saleId}`,
    `  curl -s -X POST -H 'Content-Type: application/json' -d '{"userId":"bob"}' ${base}/auth/dev-token`,
    '',
  ].join('\n');
};
