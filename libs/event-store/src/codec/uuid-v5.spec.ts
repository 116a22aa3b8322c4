import fc from 'fast-check';
import { v5 } from 'uuid';
import { uuidV5In } from './uuid-v5';

describe('uuidV5In', () => {
  it('gives the same ids as the uuid package for any name and namespace, unicode included', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.string({ unit: 'binary', maxLength: 200 }), (namespace, name) => {
        expect(uuidV5In(namespace)(name)).toBe(v5(name, namespace));
      }),
      { numRuns: 2000 },
    );
  });

  it('matches the RFC 9562 example (DNS namespace, www.example.com)', () => {
    expect(uuidV5In('6ba7b810-9dad-11d1-80b4-00c04fd430c8')('www.example.com')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('refuses a namespace that is not a UUID', () => {
    expect(() => uuidV5In('not-a-uuid')).toThrow(TypeError);
  });
});
