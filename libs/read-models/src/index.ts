/** Projection runner and read models (Redis, Mongo, embedded) land with issue #6. */
export {};
