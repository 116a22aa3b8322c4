import { reservationRequests } from '../support/buyers';
import { BenchContext, startBaseline, startEngine } from '../support/context';
import { rateOf, warmThenMeasure } from '../support/load';
import { cpuCost, judge, RowResult, Target } from '../support/report';
import { cpuText, loadDetails, loadNotes, unexpected } from './common';

const TARGET: Target = { kind: 'ratio-at-least', threshold: 0.8, text: '≥ 0.8×' };

/**
 * Row 1: purchase attempts on a sold-out sale through the whole server (JWT, Idempotency-Key, strict body
 * validation, buyer-stream lookup of the key, purchase token, the stock filter → 409 SOLD_OUT) against bare Fastify
 * parsing the same body and answering the same 409.
 */
export const filterRow = async (ctx: BenchContext): Promise<RowResult> => {
  const { mode } = ctx;
  const engine = await startEngine(ctx, 'row1-engine');
  let engineResult;
  try {
    const saleId = await engine.api.createSale({ totalStock: 1, shards: 1 });
    await engine.api.checkTokenEquivalence(saleId, 0);
    // The one unit goes to a buyer outside the cycle, so every timed attempt is a SOLD_OUT, not a LIMIT_EXCEEDED.
    const winner = mode.filterBuyers + 1;
    const first = await engine.api.reserve(saleId, ctx.auth.bearer(winner), 'first-unit-key', ctx.auth.purchaseToken(`b${winner}`, saleId));
    if (first.status !== 201) throw new Error(`buying the only unit answered ${first.status}: ${JSON.stringify(first.body)}`);
    const probe = await engine.api.reserve(saleId, ctx.auth.bearer(0), 'probe-key-0001', ctx.auth.purchaseToken('b0', saleId));
    if (probe.status !== 409 || (probe.body as { error: { code: string } }).error.code !== 'SOLD_OUT') {
      throw new Error(`an attempt on the sold-out sale answered ${probe.status} ${JSON.stringify(probe.body)}`);
    }
    const load = reservationRequests({ auth: ctx.auth, saleId, keyPrefix: 'filter', cycleBuyers: mode.filterBuyers });
    engineResult = await warmThenMeasure({
      label: 'row 1 engine (sold out)',
      baseUrl: engine.baseUrl,
      connections: mode.connections,
      seconds: mode.timedSeconds,
      warmupSeconds: mode.warmupSeconds,
      next: load.next,
      sutPid: engine.process.pid,
    });
  } finally {
    await engine.stop();
  }

  const bare = await startBaseline(ctx, 'row1-bare-fastify', 'bare-fastify');
  let bareResult;
  try {
    const load = reservationRequests({ auth: ctx.auth, saleId: 'bare-sale', keyPrefix: 'bare', cycleBuyers: mode.filterBuyers });
    bareResult = await warmThenMeasure({
      label: 'row 1 bare Fastify',
      baseUrl: bare.baseUrl,
      connections: mode.connections,
      seconds: mode.timedSeconds,
      warmupSeconds: mode.warmupSeconds,
      next: load.next,
      sutPid: bare.process.pid,
    });
  } finally {
    await bare.stop();
  }

  const value = rateOf(engineResult, 409);
  const baseline = rateOf(bareResult, 409);
  const ratio = baseline > 0 ? value / baseline : null;
  return {
    id: 1,
    key: 'filter-path',
    title: 'filter path: sold-out attempts (Nest, ACCESS_LIMITS=off) vs bare Fastify',
    metric: '409/s',
    value,
    baseline: { label: 'bare Fastify', value: baseline },
    ratio,
    target: TARGET,
    pass: judge(TARGET, value, ratio),
    cpu: cpuCost(engineResult.cpu.sut, value, '409'),
    notes: [
      `server CPU per 409: engine ${cpuText(engineResult, value)}, bare Fastify ${cpuText(bareResult, baseline)}`,
      `${mode.filterBuyers.toLocaleString('en-US')} distinct buyers cycled (more than the server's 10k JWT cache), a fresh Idempotency-Key per attempt, ${mode.connections} connections`,
      ...unexpected('engine', engineResult, 409),
      ...unexpected('bare Fastify', bareResult, 409),
      ...loadNotes('engine', engineResult),
      ...loadNotes('bare Fastify', bareResult),
    ],
    details: { engine: loadDetails(engineResult), bareFastify: loadDetails(bareResult) },
  };
};
