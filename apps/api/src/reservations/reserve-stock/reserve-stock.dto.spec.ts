import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { ReservationRequest } from './reserve-stock.dto';

const decoratorsAccept = (body: Record<string, unknown>): boolean =>
  validateSync(plainToInstance(ReservationRequest, body), { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true }).length === 0;

const anyValue = fc.oneof(
  fc.integer({ min: -5, max: 1_000_000_005 }),
  fc.constantFrom(0, 1, 2, 1e9, 1e9 + 1, 1.5, -0, Number.NaN, Infinity, 2 ** 53),
  fc.string({ maxLength: 8 }),
  fc.string({ minLength: 500, maxLength: 520 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 600 }),
  fc.constantFrom('', null, true, [], {}, ['x'], '1'),
);

describe('ReservationRequest.fastAccept', () => {
  it('accepts only bodies the class-validator decorators accept', () => {
    fc.assert(
      fc.property(
        fc.record(
          { quantity: anyValue, purchaseToken: anyValue, challengeAnswer: anyValue, extra: anyValue },
          { requiredKeys: [] },
        ),
        (body) => {
          if (ReservationRequest.fastAccept(body)) expect(decoratorsAccept(body)).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('takes the ordinary purchase', () => {
    expect(ReservationRequest.fastAccept({ quantity: 1, purchaseToken: 't.oken' })).toBe(true);
    expect(ReservationRequest.fastAccept({ quantity: 2, purchaseToken: 't', challengeAnswer: 'a' })).toBe(true);
  });

  it('leaves everything doubtful to the decorators', () => {
    for (const body of [{ quantity: 1 }, { quantity: 1, purchaseToken: '' }, { quantity: '1', purchaseToken: 't' }, { quantity: 1, purchaseToken: 't', x: 1 }, { quantity: 0, purchaseToken: 't' }]) {
      expect(ReservationRequest.fastAccept(body)).toBe(false);
    }
  });
});
