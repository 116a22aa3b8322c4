import vm from 'node:vm';
import { AnswerBuilder } from './pipeline-runner';

const build = (rows: unknown[], maxRows: number, maxBytes: number) => {
  const answer = new AnswerBuilder(maxRows, maxBytes);
  const steps = rows.map((row) => answer.add(row));
  return { steps, answer };
};

describe('AnswerBuilder', () => {
  it('builds {rows, truncated} as JSON, one row at a time', () => {
    const { steps, answer } = build([{ a: 1 }, { b: 'x' }], 10, 1000);
    expect(steps).toEqual(['added', 'added']);
    expect(answer.finish()).toEqual({ json: '{"rows":[{"a":1},{"b":"x"}],"truncated":false}', rows: 2, truncated: false });
    expect(new AnswerBuilder(10, 1000).finish().json).toBe('{"rows":[],"truncated":false}');
  });

  it('counts the bytes as sent, multi-byte characters included, and refuses a row that would pass the cap', () => {
    const rows = [{ s: 'é🛒' }, { s: '€' }];
    const json = JSON.stringify({ rows, truncated: false });
    const exact = build(rows, 10, Buffer.byteLength(json));
    expect(exact.steps).toEqual(['added', 'added']);
    expect(exact.answer.finish().json).toBe(json);
    expect(exact.answer.bytes).toBe(Buffer.byteLength(json));
    expect(build(rows, 10, Buffer.byteLength(json) - 1).steps).toEqual(['added', 'too-large']);
  });

  it('is truncated once a row is offered past maxRows', () => {
    const { steps, answer } = build([{ n: 1 }, { n: 2 }, { n: 3 }], 2, 1000);
    expect(steps).toEqual(['added', 'added', 'full']);
    expect(answer.finish()).toEqual({ json: '{"rows":[{"n":1},{"n":2}],"truncated":true}', rows: 2, truncated: true });
  });

  it('sends values JSON cannot hold as JSON does', () => {
    const { answer } = build([{ when: new Date(0), nan: Number.NaN, gone: undefined }], 10, 1000);
    expect(JSON.parse(answer.finish().json)).toEqual({ rows: [{ when: '1970-01-01T00:00:00.000Z', nan: null }], truncated: false });
  });

  it('runs from its own source text, as the pipeline worker gets it', () => {
    const Rebuilt = vm.runInThisContext(`(${AnswerBuilder.toString()})`) as typeof AnswerBuilder;
    const answer = new Rebuilt(1, 1000);
    expect([answer.add({ a: 1 }), answer.add({ a: 2 })]).toEqual(['added', 'full']);
    expect(answer.finish().json).toBe('{"rows":[{"a":1}],"truncated":true}');
  });
});
