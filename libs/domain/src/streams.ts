/** Stream names: the one place they are spelled. */
export const saleStream = (saleId: string): string => `sale-${saleId}`;
export const buyerStream = (saleId: string, userId: string): string => `buyer-${saleId}-${userId}`;
export const inventoryStream = (saleId: string, shard: number): string => `inventory-${saleId}-${shard}`;
/** The shard an order is tried on first: derived from its id (a UUID), so load spreads and a retry takes the same path. */
export const homeShard = (orderId: string, shards: number): number => Number.parseInt(orderId.slice(0, 8), 16) % shards;
export const paymentStream = (paymentId: string): string => `payment-${paymentId}`;

export const STREAM_CATEGORIES = ['sale', 'buyer', 'inventory', 'payment'] as const;
export type StreamCategory = (typeof STREAM_CATEGORIES)[number];
