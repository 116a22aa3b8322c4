import { requestIdOf } from './request-id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('requestIdOf', () => {
  it("keeps the client's X-Request-Id when it is a plain token", () => {
    for (const id of ['abc-123', '0f8fad5b-d9cb-469f-a165-70867728950e', 'Root=1-5759e988-bd862e3fe1be46a994272793', 'a'.repeat(128), 'trace/1:2+3=4~x_y.z']) {
      expect(requestIdOf({ 'x-request-id': id })).toBe(id);
    }
  });

  it('makes a new id when none is sent', () => {
    const first = requestIdOf({});
    expect(first).toMatch(UUID);
    expect(requestIdOf({})).not.toBe(first);
  });

  it('replaces an id that could forge a log line, hide in a terminal or fill the logs', () => {
    const refused = [
      'abc\n{"level":30,"msg":"forged"}',
      'abc\r\ndef',
      'with space',
      'quote"d',
      '\u001b[31mred',
      'a'.repeat(129),
      'x'.repeat(10_000),
      '',
      'one, two', // the header sent twice, joined by Node
      'ünïcode',
    ];
    for (const id of refused) expect(requestIdOf({ 'x-request-id': id })).toMatch(UUID);
    expect(requestIdOf({ 'x-request-id': ['a', 'b'] })).toMatch(UUID);
  });
});
