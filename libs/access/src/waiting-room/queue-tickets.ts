import { createHmac, timingSafeEqual } from 'node:crypto';

/** Ticket numbers are written in base 36; a line longer than 36^10 people is not a flash sale. */
const SEQ = /^[0-9a-z]{1,10}$/;

/**
 * A waiting-room ticket as the buyer holds it: the ticket number and an HMAC over (user, sale, number), so a ticket
 * is worthless to anyone but the user it was issued to, for any other sale, and cannot be made up.
 */
export class QueueTickets {
  constructor(private readonly secret: Buffer) {}

  issue(userId: string, saleId: string, seq: number): string {
    const number = seq.toString(36);
    return `${number}.${this.mac(userId, saleId, number)}`;
  }

  /** The ticket number, or undefined for anything malformed, forged, or issued to another user or sale. */
  read(ticket: string, userId: string, saleId: string): number | undefined {
    const dot = ticket.indexOf('.');
    const number = ticket.slice(0, dot);
    if (dot < 1 || !SEQ.test(number)) return undefined;
    const given = Buffer.from(ticket.slice(dot + 1));
    const expected = Buffer.from(this.mac(userId, saleId, number));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return Number.parseInt(number, 36);
  }

  private mac(userId: string, saleId: string, number: string): string {
    return createHmac('sha256', this.secret).update(`queue-ticket/v1\n${userId}\n${saleId}\n${number}`).digest('base64url');
  }
}
