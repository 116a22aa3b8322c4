import { BAD_PIPELINES } from '../../test/bad-pipelines';
import { checkPipeline, PipelineRefused, stageMentionedIn } from './pipeline-policy';

const refusal = (pipeline: unknown): unknown => {
  try {
    checkPipeline(pipeline);
  } catch (error) {
    return error;
  }
  return undefined;
};

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

  it.each(BAD_PIPELINES.filter((bad) => bad.caughtBy === 'policy').map((bad) => [bad.shape, bad] as const))('refuses %s up front, naming the stage', (_shape, bad) => {
    const error = refusal(bad.pipeline);
    expect(error).toBeInstanceOf(PipelineRefused);
    const operator = Object.keys(bad.pipeline[bad.stage] ?? {})[0];
    expect(error).toMatchObject({ where: { stage: bad.stage, operator }, message: expect.stringContaining(`stage ${String(bad.stage)} (${String(operator)})`) });
  });

  it.each(BAD_PIPELINES.filter((bad) => bad.caughtBy === 'engine').map((bad) => [bad.shape, bad] as const))('leaves %s, well-formed, to the engine', (_shape, bad) => {
    expect(refusal(bad.pipeline)).toBeUndefined();
  });

  it('accepts what analysts write: accumulators, expressions, literals, regexes, facets, buckets', () => {
    const pipelines: unknown[] = [
      [{ $match: { status: { $in: ['paid', 'expired'] }, amount: { $gte: 100 }, $or: [{ userId: 'u1' }, { quantity: { $gt: 1 } }] } }],
      [{ $match: { userId: { $regex: '^u[0-9]+$', $options: 'i' } } }, { $match: { status: { $not: { $regex: 'x' } } } }],
      [{ $match: { $expr: { $gt: ['$amount', { $multiply: ['$quantity', 100] }] } } }],
      [{ $group: { _id: { sale: '$saleId', status: '$status' }, n: { $sum: 1 }, buyers: { $addToSet: '$userId' }, top: { $max: '$amount' }, c: { $count: {} } } }],
      [{ $project: { _id: 0, status: 1, revenue: { $multiply: ['$amount', 2] }, tag: { $literal: { $anything: 'goes' } } } }],
      [{ $project: { history: 0, refunds: 0 } }],
      [{ $addFields: { 'meta.paid': { $eq: ['$status', 'paid'] }, m: { $regexMatch: { input: '$userId', regex: 'u1', options: 'i' } } } }],
      [{ $unwind: { path: '$history', includeArrayIndex: 'i', preserveNullAndEmptyArrays: true } }, { $sortByCount: '$history.status' }],
      [{ $bucket: { groupBy: '$amount', boundaries: [0, 500, 1000], default: 'other', output: { n: { $sum: 1 } } } }],
      [{ $bucketAuto: { groupBy: '$amount', buckets: 4 } }, { $replaceRoot: { newRoot: { min: '$_id.min', n: '$count' } } }],
      [{ $facet: { byStatus: [{ $sortByCount: '$status' }], total: [{ $count: 'n' }], top: [{ $sort: { amount: -1 } }, { $limit: 3 }] } }],
      [{ $set: { x: 1 } }, { $unset: ['x', 'history'] }, { $skip: 0 }, { $limit: 10 }, { $replaceWith: { $mergeObjects: ['$$ROOT', { y: 2 }] } }],
      [{ $group: { _id: null, n: { $sum: 1 } } }, { $sort: { n: -1, _id: 1 } }],
    ];
    for (const pipeline of pipelines) expect({ pipeline, refused: refusal(pipeline) }).toEqual({ pipeline, refused: undefined });
  });
});

describe('stageMentionedIn', () => {
  const pipeline = [{ $match: { status: 'paid' } }, { $project: { ratio: { $divide: ['$amount', 0] } } }, { $limit: 5 }];

  it('points at the stage an engine message names, as its own operator or inside it', () => {
    expect(stageMentionedIn('$limit must be positive', pipeline)).toEqual({ stage: 2, operator: '$limit' });
    expect(stageMentionedIn("can't $divide by zero", pipeline)).toEqual({ stage: 1, operator: '$project' });
    expect(stageMentionedIn('Invalid $project :: caused by :: $divide', pipeline)).toEqual({ stage: 1, operator: '$project' });
  });

  it('points nowhere when the message names nothing the pipeline holds', () => {
    expect(stageMentionedIn('something went wrong', pipeline)).toBeUndefined();
    expect(stageMentionedIn('$unionWith is unknown', pipeline)).toBeUndefined();
  });
});
