/** The shard an order is tried on first: derived from its id, so load spreads and a retry takes the same path. */
export const homeShard = (orderId: string, shards: number): number => Number.parseInt(orderId.slice(0, 8), 16) % shards;
