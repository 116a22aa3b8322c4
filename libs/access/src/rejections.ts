/**
 * Where the access layer reports every refused purchase, by sale and reason code, whichever layer refused it: the
 * api counts them for Prometheus and adds them to the analytics read model (who was turned away and why).
 */
export interface RejectionRecorder {
  record(saleId: string, code: string): void;
}
