import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { deriveKey, PurchaseTokens } from '@flash/access';
import { EventStore } from '@flash/event-store';
import { EligibilityGate } from '@flash/gate';
import { AnalyticsController, ProjectionsAdminController } from './analytics/analytics.controller';
import { AnalyticsHost } from './analytics/analytics-host';
import { analyticsProviders } from './analytics/analytics.providers';
import { ACCESS_CONTROLLERS, ACCESS_GUARDS, accessProviders } from './admission/access.providers';
import { AuthGuard } from './auth/auth.guard';
import { DevTokenController } from './auth/dev-token.controller';
import { DemoSaleController } from './demo/demo-sale.controller';
import { JwksKeys } from './auth/jwks-keys';
import { JWKS_KEYS, JwtService } from './auth/jwt.service';
import { CLOCK, Clock, systemClock } from '@flash/command-side';
import { apiFollowEveryMs, APP_CONFIG, AppConfig, EVENT_STORE, Logger, LOGGER, openEventStore, openGate } from '@flash/runtime';
import { commandSideProviders, ELIGIBILITY_GATE } from './command-side.providers';
import { HealthController } from './health/health.controller';
import { ReadinessProbe } from './health/readiness-probe';
import { HotPathCounters } from './metrics/hot-path-counters';
import { MetricsController } from './metrics/metrics.controller';
import { MetricsService } from './metrics/metrics.service';
import { ErrorEnvelopeFilter } from './http/error.filter';
import { ReadinessGuard } from './http/readiness.guard';
import { ServerDrain } from './http/server-drain';
import { Lifecycle } from './lifecycle';
import { CancelOrderController } from './orders/cancel-order/cancel-order.controller';
import { GetOrderController } from './orders/get-order/get-order.controller';
import { DemoPaymentsController, PaymentWebhookController } from './orders/pay-order/payment-webhook.controller';
import { PayOrderHandler } from './orders/pay-order/pay-order.handler';
import { SagaHost } from './sagas/saga-host';
import { SalePageAssets } from './sale-page/sale-page.assets';
import { SalePageController } from './sale-page/sale-page.controller';
import { PurchaseTokenController } from './reservations/issue-purchase-token/purchase-token.controller';
import { PurchaseGrants } from './reservations/issue-purchase-token/purchase-grants';
import { QueueController } from './reservations/wait-in-line/queue.controller';
import { waitingRoomProviders } from './reservations/wait-in-line/waiting-room.providers';
import { WaitingRoomMetrics } from './metrics/waiting-room-metrics';
import { ReservationFastPath } from './reservations/reserve-stock/reservation.fast-path';
import { ReservationPipeline } from './reservations/reserve-stock/reservation.pipeline';
import { ReservationRoute } from './reservations/reserve-stock/reservation.route';
import { PurchaseProof } from './reservations/reserve-stock/purchase-proof';
import { ReserveStockHandler } from './reservations/reserve-stock/reserve-stock.handler';
import { GetSaleController } from './sales/get-sale/get-sale.controller';
import { ClientAddresses } from './http/client-address';
import { GetSaleService } from './sales/get-sale/get-sale.service';
import { ScheduleSaleController } from './sales/schedule-sale/schedule-sale.controller';
import { ScheduleSaleHandler } from './sales/schedule-sale/schedule-sale.handler';

export interface AppDependencies {
  readonly config: AppConfig;
  readonly logger: Logger;
  /** Defaults to the adapter the configuration selects. */
  readonly store?: EventStore;
  readonly clock?: Clock;
  readonly gate?: EligibilityGate;
  /** Who the client is, as the HTTP server was built to see it (bootstrap.ts); from TRUST_PROXY when not given. */
  readonly clientAddresses?: ClientAddresses;
}

const startedKeys = (keys: JwksKeys): JwksKeys => {
  keys.start();
  return keys;
};

/** A thin shell: wires ports to adapters and lists the use cases. */
@Module({})
export class AppModule {
  static forRoot({ config, logger, store, clock, gate, clientAddresses }: AppDependencies): DynamicModule {
    const { jwks } = config;
    return {
      module: AppModule,
      imports: [CqrsModule.forRoot()],
      controllers: [
        HealthController,
        MetricsController,
        ScheduleSaleController,
        GetSaleController,
        PurchaseTokenController,
        QueueController,
        GetOrderController,
        CancelOrderController,
        PaymentWebhookController,
        AnalyticsController,
        ProjectionsAdminController,
        ...ACCESS_CONTROLLERS,
        SalePageController,
        ...(config.demo ? [DevTokenController, DemoPaymentsController, DemoSaleController] : []),
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: ClientAddresses, useValue: clientAddresses ?? new ClientAddresses(config.trustProxy) },
        { provide: LOGGER, useValue: logger },
        { provide: CLOCK, useValue: clock ?? systemClock },
        { provide: EVENT_STORE, useFactory: async () => store ?? (await openEventStore(config, { followEveryMs: apiFollowEveryMs(config) })) },
        { provide: ELIGIBILITY_GATE, useFactory: () => gate ?? openGate(config) },
        HotPathCounters,
        MetricsService,
        ReadinessProbe,
        { provide: PurchaseTokens, useFactory: () => new PurchaseTokens(deriveKey(config.jwtSecret, 'purchase-token'), config.purchaseTokenTtlMs) },
        { provide: APP_FILTER, useClass: ErrorEnvelopeFilter },
        { provide: APP_GUARD, useClass: ReadinessGuard },
        { provide: APP_GUARD, useClass: AuthGuard },
        ...ACCESS_GUARDS,
        ...accessProviders(config),
        JwtService,
        // JWT_JWKS_URL: the identity provider's keys, fetched now so that its first token does not wait for them.
        ...(jwks === undefined ? [] : [{ provide: JWKS_KEYS, useFactory: () => startedKeys(new JwksKeys(jwks, logger.child({ component: 'jwks' }))) }]),
        { provide: SalePageAssets, useFactory: () => new SalePageAssets() },
        GetSaleService,
        ScheduleSaleHandler,
        PurchaseProof,
        PurchaseGrants,
        WaitingRoomMetrics,
        ...waitingRoomProviders(config),
        ReserveStockHandler,
        ...commandSideProviders(config),
        ServerDrain,
        ReservationPipeline,
        ReservationRoute,
        ReservationFastPath,
        PayOrderHandler,
        SagaHost,
        ...analyticsProviders,
        AnalyticsHost,
        Lifecycle,
      ],
    };
  }
}
