import { checkPipeline, PipelineRefused } from './pipeline-policy';

describe('checkPipeline', () => {
  it('accepts read-only stages', () => {
    expect(() => checkPipeline([{ $match: { status: 'paid' } }, { $group: { _id: '$userId', n: { $sum: 1 } } }, { $sort: { n: -1 } }, { $limit: 10 }])).not.toThrow();
    expect(() => checkPipeline([{ $facet: { byStatus: [{ $sortByCount: '$status' }], total: [{ $count: 'n' }] } }])).not.toThrow();
  });

  it.each(['$out', '$merge', '$function', '$where', '$accumulator'])('refuses %s as a stage', (operator) => {
    expect(() => checkPipeline([{ $match: {} }, { [operator]: 'x' }])).toThrow(PipelineRefused);
  });

  it('refuses forbidden operators hidden inside stages, $facet included', () => {
    expect(() => checkPipeline([{ $match: { $where: 'this.amount > 1' } }])).toThrow(/\$where/);
    expect(() => checkPipeline([{ $group: { _id: null, x: { $accumulator: { init: 'function(){}' } } } }])).toThrow(/\$accumulator/);
    expect(() => checkPipeline([{ $addFields: { x: { $function: { body: 'return 1', args: [], lang: 'js' } } } }])).toThrow(/\$function/);
    expect(() => checkPipeline([{ $facet: { a: [{ $out: 'stolen' }] } }])).toThrow(/\$out/);
  });

  it('refuses stages that reach other collections or are unknown', () => {
    expect(() => checkPipeline([{ $lookup: { from: 'users', as: 'u' } }])).toThrow(/not allowed/);
    expect(() => checkPipeline([{ $unionWith: 'users' }])).toThrow(/not allowed/);
    expect(() => checkPipeline([{ $nonsense: 1 }])).toThrow(/not allowed/);
  });

  it('refuses shapes that are not a pipeline', () => {
    expect(() => checkPipeline({ $match: {} })).toThrow(/array/);
    expect(() => checkPipeline([{ $match: {}, $limit: 1 }])).toThrow(/exactly one/);
    expect(() => checkPipeline([{}])).toThrow(/exactly one/);
    expect(() => checkPipeline(['$match'])).toThrow(/object/);
    expect(() => checkPipeline(Array.from({ length: 51 }, () => ({ $match: {} })))).toThrow(/at most/);
    expect(() => checkPipeline([{ $match: JSON.parse('{"__proto__": {"polluted": true}}') as unknown }])).toThrow(/__proto__/);
  });

  it('refuses absurd nesting', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { a: deep };
    expect(() => checkPipeline([{ $match: deep }])).toThrow(/deeper/);
  });
});
