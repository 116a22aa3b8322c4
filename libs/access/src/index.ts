export * from './purchase-token';
