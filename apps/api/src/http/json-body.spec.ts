import fc from 'fast-check';
import { IsInt } from 'class-validator';
import { ApiError } from './error-catalogue';
import { duplicateKeyIn, parseBody, RawJsonBody } from './json-body';

class Quantity {
  @IsInt() quantity!: number;
}

const refusal = (text: string): string | undefined => {
  try {
    parseBody(Quantity, new RawJsonBody(text));
  } catch (error) {
    return error instanceof ApiError ? `${error.code}: ${error.message}` : 'not an ApiError';
  }
  return undefined;
};

describe('duplicateKeyIn', () => {
  it('finds a key named twice in one object, at any depth', () => {
    expect(duplicateKeyIn('{"quantity":1,"quantity":2}')).toBe('quantity');
    expect(duplicateKeyIn('{"a":{"b":1,"c":[{"d":1},{"d":2,"d":3}]}}')).toBe('d');
    expect(duplicateKeyIn('[{"x":1},{"y":{"z":0,"z":0}}]')).toBe('z');
    expect(duplicateKeyIn('{"":1,"":2}')).toBe('');
  });

  it('compares keys decoded: an escaped spelling is the same key', () => {
    expect(duplicateKeyIn('{"quantity":1,"q\\u0075antity":2}')).toBe('quantity');
    expect(duplicateKeyIn('{"a\\"b":1,"a\\u0022b":2}')).toBe('a"b');
    expect(duplicateKeyIn('{"a\\\\":1,"a\\\\\\\\":2}')).toBeUndefined();
  });

  it('does not confuse values, strings with braces or commas, or sibling objects with keys of one object', () => {
    expect(duplicateKeyIn('{"a":"a","b":"a"}')).toBeUndefined();
    expect(duplicateKeyIn('{"a":"{\\"a\\":1,","b":"}, \\"a\\":"}')).toBeUndefined();
    expect(duplicateKeyIn('{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}')).toBeUndefined();
    expect(duplicateKeyIn('[1,"a","a",{},[]]')).toBeUndefined();
  });

  it('finds nothing in any text JSON.stringify writes, and finds the key added twice to any object', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(duplicateKeyIn(JSON.stringify(value))).toBeUndefined();
      }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }), fc.nat(), (object, at) => {
        const keys = Object.keys(object);
        const key = keys[at % keys.length] as string;
        const text = JSON.stringify(object);
        const repeated = `${text.slice(0, -1)},${JSON.stringify(key)}:null}`;
        expect(duplicateKeyIn(repeated)).toBe(key);
      }),
    );
  });
});

describe('parseBody', () => {
  it('refuses a body that names a key twice, whichever value comes last', () => {
    expect(refusal('{"quantity":1,"quantity":2}')).toBe('VALIDATION_FAILED: the body names a key more than once');
    expect(refusal('{"quantity":"x","quantity":1}')).toBe('VALIDATION_FAILED: the body names a key more than once');
    expect(refusal(`{"${'k'.repeat(100)}":1,"${'k'.repeat(100)}":1}`)).toBe('VALIDATION_FAILED: the body names a key more than once');
    expect(refusal('{"quantity":1}')).toBeUndefined();
  });
});
