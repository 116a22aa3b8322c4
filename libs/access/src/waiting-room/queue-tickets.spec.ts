import { QueueTickets } from './queue-tickets';

const tickets = new QueueTickets(Buffer.from('k'.repeat(32)));

describe('QueueTickets', () => {
  it('reads back the ticket number for its user and sale', () => {
    expect(tickets.read(tickets.issue('u1', 's1', 1234), 'u1', 's1')).toBe(1234);
  });

  it('is worthless for another user or sale, or under another key', () => {
    const ticket = tickets.issue('u1', 's1', 7);
    expect(tickets.read(ticket, 'u2', 's1')).toBeUndefined();
    expect(tickets.read(ticket, 'u1', 's2')).toBeUndefined();
    expect(new QueueTickets(Buffer.from('x'.repeat(32))).read(ticket, 'u1', 's1')).toBeUndefined();
  });

  it('refuses a ticket whose number was changed (a better place in line)', () => {
    const ticket = tickets.issue('u1', 's1', 700);
    expect(tickets.read(`1${ticket.slice(ticket.indexOf('.'))}`, 'u1', 's1')).toBeUndefined();
  });

  it.each(['', '.', 'abc', '.mac', '1.', 'ZZ.mac', '-1.mac', `${'1'.repeat(11)}.mac`, '1.2.3', '１.mac'])('refuses the malformed ticket %p', (bad) => {
    expect(tickets.read(bad, 'u1', 's1')).toBeUndefined();
  });
});
