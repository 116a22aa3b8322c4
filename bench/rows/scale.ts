import { ENGINE_NODE_OPTIONS } from '../settings';
import { reservationRequests } from '../support/buyers';
import { BenchContext, startEngine } from '../support/context';
import { closedLoop } from '../support/load';
import { progress } from '../support/log';
import { memoryOf, sleep } from '../support/processes';
import { judge, RowResult, skippedRow, Target } from '../support/report';
import { loadDetails, loadNotes } from './common';

const TARGET: Target = { kind: 'value-below', threshold: 400, text: 'RSS < 400 MB' };

/**
 * Row 7: resident memory of the server after many distinct buyers each tried once on a big sale over 64 shards.
 * Runs as many attempts as fit in the mode's time cap and reports that count; nothing is extrapolated.
 */
export const scaleRow = async (ctx: BenchContext): Promise<RowResult> => {
  const scale = ctx.mode.scale;
  const title = 'scale: server RSS after distinct buyers on one sale (64 shards)';
  if (!scale) return skippedRow(7, 'scale', title, 'MiB', TARGET, `not run in ${ctx.mode.name} mode`);
  const engine = await startEngine(ctx, 'row7-engine');
  try {
    const saleId = await engine.api.createSale({ totalStock: scale.stock, shards: scale.shards, perUserLimit: 1 });
    await engine.api.checkTokenEquivalence(saleId, 0);
    const startRss = memoryOf(engine.process.pid).rssMiB;
    const load = reservationRequests({ auth: ctx.auth, saleId, keyPrefix: 'scale' });
    progress(`row 7: ${scale.buyers.toLocaleString('en-US')} buyers, stock ${scale.stock.toLocaleString('en-US')} over ${scale.shards} shards, cap ${scale.capSeconds} s`);
    const result = await closedLoop({
      label: 'row 7',
      baseUrl: engine.baseUrl,
      connections: ctx.mode.connections,
      seconds: scale.capSeconds,
      amount: scale.buyers,
      next: load.next,
      sutPid: engine.process.pid,
      tickSeconds: 10,
      onTick: (responses, elapsed) => {
        const rss = memoryOf(engine.process.pid).rssMiB;
        progress(`row 7: ${responses.toLocaleString('en-US')} attempts in ${Math.round(elapsed)} s, server RSS ${Math.round(rss)} MiB`);
      },
    });
    // Let the in-process followers (catalog, sagas) catch up with the tail before reading the memory.
    await sleep(2000);
    const { rssMiB, peakRssMiB } = memoryOf(engine.process.pid);
    const heap = await engine.api.heap();
    const attempts = result.responses;
    const reserved = result.statuses['201'] ?? 0;
    progress(`row 7: RSS ${Math.round(rssMiB)} MiB (peak ${Math.round(peakRssMiB)} MiB) after ${attempts.toLocaleString('en-US')} attempts, ${reserved.toLocaleString('en-US')} reserved`);
    const complete = attempts >= scale.buyers;
    return {
      id: 7,
      key: 'scale',
      title: `${title}: ${attempts.toLocaleString('en-US')} of ${scale.buyers.toLocaleString('en-US')} buyers, stock ${scale.stock.toLocaleString('en-US')}`,
      metric: 'MiB RSS',
      value: rssMiB,
      ratio: null,
      target: TARGET,
      pass: judge(TARGET, rssMiB, null),
      notes: [
        ...(complete ? [] : [`only ${attempts.toLocaleString('en-US')} of ${scale.buyers.toLocaleString('en-US')} attempts fit in the ${scale.capSeconds} s cap; not extrapolated`]),
        `${reserved.toLocaleString('en-US')} reservations (201), ${(result.statuses['409'] ?? 0).toLocaleString('en-US')} sold out (409); RSS at start ${Math.round(startRss)} MiB, peak ${Math.round(peakRssMiB)} MiB`,
        `V8 heap at the end: ${Math.round(heap.usedMiB)} MiB used of ${Math.round(heap.totalMiB)} MiB; the engine runs with NODE_OPTIONS=${ENGINE_NODE_OPTIONS} like every engine row`,
        ...loadNotes('engine', result),
      ],
      details: { attempts, buyersPlanned: scale.buyers, stock: scale.stock, shards: scale.shards, rssMiB, peakRssMiB, startRssMiB: startRss, heap, nodeOptions: ENGINE_NODE_OPTIONS, ...loadDetails(result) },
    };
  } finally {
    await engine.stop();
  }
};
