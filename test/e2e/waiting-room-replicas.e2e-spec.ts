import { describeWithPostgres } from '../../libs/event-store/test/postgres-support';
import { replicaSetForSuite } from './support/replica-set';
import { roomChecks } from './support/waiting-room-checks';

/**
 * The waiting room's two Must-show checks of issue #26 with two api processes on one PostgreSQL store and one Redis:
 * the crowd split across both, the line, its pace and its tickets shared through Redis, the admissions and purchase
 * refusals counted on both servers and added up. WAITING_ROOM_ADAPTIVE=off keeps the rate at the configured one on a
 * loaded machine (the rate rule has its own unit test); ACCESS_LIMITS=off: the crowd comes from one address here.
 */
describeWithPostgres('the waiting room on two api replicas sharing Redis', () => {
  const set = replicaSetForSuite({
    labels: ['room-replica-a', 'room-replica-b'],
    env: { ACCESS_LIMITS: 'off', WAITING_ROOM_ADAPTIVE: 'off' },
    jwtSecret: 'q'.repeat(40),
    concurrency: 32,
  });
  const checks = roomChecks({ replicas: () => set.clients });

  it('admits 2,000 users who join in random order across both, strictly in ticket order, each once, at admitPerSecond', () => checks.admitsInTicketOrderAtTheRate(), 300_000);

  it('sells exactly its stock to admitted buyers only through both, then answers SOLD_OUT to everyone still waiting', () => checks.sellsItsStockToAdmittedBuyersOnly(), 300_000);
});
