import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { deriveKey, PurchaseTokens } from '@flash/access';
import { EventStore } from '@flash/event-store';
import { EligibilityGate } from '@flash/gate';
import { AnalyticsController, ProjectionsAdminController } from './analytics/analytics.controller';
import { AnalyticsHost } from './analytics/analytics-host';
import { analyticsProviders } from './analytics/analytics.providers';
import { ACCESS_CONTROLLERS, ACCESS_GUARDS, accessProviders } from './access/access.providers';
import { AuthGuard } from './auth/auth.guard';
import { DevTokenController } from './auth/dev-token.controller';
import { DemoSaleController } from './demo/demo-sale.controller';
import { JwtService } from './auth/jwt.service';
import { CLOCK, Clock, systemClock } from './clock';
import { APP_CONFIG, AppConfig } from './config';
import { ELIGIBILITY_GATE, GateKeeper } from './gate/gate-keeper';
import { openGate } from './gate/gate.provider';
import { HealthController } from './health/health.controller';
import { HotPathCounters } from './metrics/hot-path-counters';
import { MetricsController } from './metrics/metrics.controller';
import { CATALOG_FOLLOWER, MetricsService } from './metrics/metrics.service';
import { ErrorEnvelopeFilter } from './http/error.filter';
import { READINESS, ReadinessGuard } from './http/readiness.guard';
import { ServerDrain } from './http/server-drain';
import { InventoryService } from './inventory/inventory.service';
import { Lifecycle } from './lifecycle';
import { Logger, LOGGER } from './logger';
import { CancelOrderController } from './orders/cancel-order/cancel-order.controller';
import { GetOrderController } from './orders/get-order/get-order.controller';
import { DemoPaymentsController, PaymentsController } from './payments/payments.controller';
import { PaymentsService } from './payments/payments.service';
import { EmbeddedInventory } from './sagas/embedded-inventory';
import { SagaHost } from './sagas/saga-host';
import { SalePageAssets } from './sale-page/sale-page.assets';
import { SalePageController } from './sale-page/sale-page.controller';
import { AccessController } from './reservations/access/access.controller';
import { ReservationFastPath } from './reservations/reserve-stock/reservation.fast-path';
import { ReservationPipeline } from './reservations/reserve-stock/reservation.pipeline';
import { ReservationRoute } from './reservations/reserve-stock/reservation.route';
import { ReserveStockHandler } from './reservations/reserve-stock/reserve-stock.handler';
import { GetSaleController } from './sales/get-sale/get-sale.controller';
import { GetSaleService } from './sales/get-sale/get-sale.service';
import { SaleCatalog } from './sales/sale-catalog';
import { ScheduleSaleController } from './sales/schedule-sale/schedule-sale.controller';
import { ScheduleSaleHandler } from './sales/schedule-sale/schedule-sale.handler';
import { EVENT_STORE, openEventStore } from './store/event-store.provider';

export interface AppDependencies {
  readonly config: AppConfig;
  readonly logger: Logger;
  /** Defaults to the adapter the configuration selects. */
  readonly store?: EventStore;
  readonly clock?: Clock;
  readonly gate?: EligibilityGate;
}

/** A thin shell: wires ports to adapters and lists the use cases. */
@Module({})
export class AppModule {
  static forRoot({ config, logger, store, clock, gate }: AppDependencies): DynamicModule {
    return {
      module: AppModule,
      imports: [CqrsModule.forRoot()],
      controllers: [
        HealthController,
        MetricsController,
        ScheduleSaleController,
        GetSaleController,
        AccessController,
        GetOrderController,
        CancelOrderController,
        PaymentsController,
        AnalyticsController,
        ProjectionsAdminController,
        ...ACCESS_CONTROLLERS,
        SalePageController,
        ...(config.demo ? [DevTokenController, DemoPaymentsController, DemoSaleController] : []),
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: CLOCK, useValue: clock ?? systemClock },
        { provide: EVENT_STORE, useFactory: () => store ?? openEventStore(config) },
        { provide: ELIGIBILITY_GATE, useFactory: () => gate ?? openGate(config) },
        GateKeeper,
        HotPathCounters,
        MetricsService,
        { provide: PurchaseTokens, useFactory: () => new PurchaseTokens(deriveKey(config.jwtSecret, 'purchase-token'), config.purchaseTokenTtlMs) },
        { provide: APP_FILTER, useClass: ErrorEnvelopeFilter },
        { provide: APP_GUARD, useClass: ReadinessGuard },
        { provide: APP_GUARD, useClass: AuthGuard },
        ...ACCESS_GUARDS,
        ...accessProviders(config),
        JwtService,
        { provide: SalePageAssets, useFactory: () => new SalePageAssets() },
        SaleCatalog,
        { provide: READINESS, useExisting: SaleCatalog },
        { provide: CATALOG_FOLLOWER, useExisting: SaleCatalog },
        InventoryService,
        GetSaleService,
        ScheduleSaleHandler,
        ReserveStockHandler,
        ServerDrain,
        ReservationPipeline,
        ReservationRoute,
        ReservationFastPath,
        PaymentsService,
        EmbeddedInventory,
        SagaHost,
        ...analyticsProviders,
        AnalyticsHost,
        Lifecycle,
      ],
    };
  }
}
