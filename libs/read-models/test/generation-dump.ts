import { analyticsProjection } from '../src/analytics/analytics.projection';
import { DocumentStore, ResultRow } from '../src/document-store';
import { physicalCollection } from '../src/projection';

/** Every document of one generation of the analytics projection, by collection: what "identical read models" compares. */
export async function dumpGeneration(docs: DocumentStore, generation: number): Promise<Record<string, ResultRow[]>> {
  const out: Record<string, ResultRow[]> = {};
  for (const collection of analyticsProjection.collections) {
    const { rows } = await docs.aggregate(physicalCollection(collection, generation), [{ $sort: { _id: 1 } }], { maxRows: 1_000_000, maxTimeMs: 60_000 });
    out[collection] = rows;
  }
  return out;
}
