/**
 * Which shards of a sale this process writes (issue #22). Shards are the unit of scale: with several api replicas on
 * one store, each shard's single writer lives on one replica at a time, under a lease with a fencing token, and a
 * replica serves buyers from the shards it owns. Asked on the hot path, so synchronous: an owner that could not renew
 * in time stops answering true before its lease can have run out anywhere.
 *
 * Ownership spreads the writes; it does not decide correctness. The store's optimistic concurrency stays the final
 * guard: a shard written by two processes at once (a worker's expiry, a replica at the tail of a sale whose own shards
 * ran dry, a holder paused past its lease) costs a conflict and a re-read, never a second copy of a unit.
 */
export interface ShardOwnership {
  owns(saleId: string, shard: number): boolean;
}

/** One process writing every shard: an embedded store, or no Redis to hold leases in (then conflicts decide). */
export const EVERY_SHARD: ShardOwnership = { owns: () => true };

/**
 * The intended owner of each shard that still has stock, among the replicas serving the sale: balanced (no replica gets
 * more than ⌈shards / replicas⌉) and stable (each shard goes to the replica that ranks highest for it by a hash of the
 * sale, the shard and the replica — rendezvous hashing — among those with room left, so a replica leaving moves its own
 * shards and few others). Every replica computes it from the same inputs and gets the same answer; where their views
 * of stock differ for a moment, the lease decides who writes and the loser asks again next round.
 *
 * Shards without stock are nobody's intent: as a replica's shards run dry, the stocked ones are dealt again over every
 * replica, so a sale sells out exactly whichever replica the buyers reach.
 */
export const assignShards = (saleId: string, stockedShards: readonly number[], replicas: readonly string[]): Map<string, number[]> => {
  const assignment = new Map<string, number[]>(replicas.map((r) => [r, []]));
  if (replicas.length === 0) return assignment;
  const room = Math.ceil(stockedShards.length / replicas.length);
  for (const shard of [...stockedShards].sort((a, b) => a - b)) {
    const ranked = [...replicas].sort((a, b) => rank(saleId, shard, b) - rank(saleId, shard, a) || (a < b ? -1 : 1));
    const owner = ranked.find((r) => (assignment.get(r) as number[]).length < room) as string;
    (assignment.get(owner) as number[]).push(shard);
  }
  return assignment;
};

/** FNV-1a over the three names: a stable, well-spread rank with no dependency. */
const rank = (saleId: string, shard: number, replica: string): number => {
  let hash = 0x811c9dc5;
  const text = `${saleId}\u0000${shard}\u0000${replica}`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash >>> 0;
};
