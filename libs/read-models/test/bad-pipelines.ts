/**
 * Pipelines no engine can run, each with the stage its refusal must name. `policy`: refused up front by
 * pipeline-policy.ts, before any document is read; `engine`: well-formed, refused by the engine while it runs (mingo
 * embedded, MongoDB) — needs at least one document in the collection to be reached. Used by the policy's unit
 * spec, the analytics e2e (each a 400 naming its stage) and the bad-input chaos generators.
 */
export interface BadPipeline {
  readonly shape: string;
  readonly pipeline: readonly Record<string, unknown>[];
  /** Index of the top-level stage the refusal names. */
  readonly stage: number;
  readonly caughtBy: 'policy' | 'engine';
}

const policy = (shape: string, pipeline: Record<string, unknown>[], stage = pipeline.length - 1): BadPipeline => ({ shape, pipeline, stage, caughtBy: 'policy' });
const engine = (shape: string, pipeline: Record<string, unknown>[], stage = pipeline.length - 1): BadPipeline => ({ shape, pipeline, stage, caughtBy: 'engine' });

export const BAD_PIPELINES: readonly BadPipeline[] = [
  // The shapes of issue #27 that answered 500.
  policy('$limit: -1', [{ $limit: -1 }]),
  policy('$skip: -1', [{ $skip: -1 }]),
  policy('$regex that does not compile', [{ $match: { status: { $regex: '(' } } }]),
  policy('$group: {}', [{ $group: {} }]),
  policy('$sort: {}', [{ $sort: {} }]),
  policy('unknown expression operator', [{ $project: { x: { $nope: 1 } } }]),
  // More of the same kind.
  policy('$limit: 0', [{ $match: {} }, { $limit: 0 }]),
  policy('$limit: 1.5', [{ $limit: 1.5 }]),
  policy('$limit: "10"', [{ $limit: '10' }]),
  policy('$skip: "x"', [{ $skip: 'x' }]),
  policy('$regex options unknown to JavaScript', [{ $match: { status: { $regex: 'a', $options: 'x' } } }]),
  policy('$options without $regex', [{ $match: { status: { $options: 'i' } } }]),
  policy('$regexMatch that does not compile', [{ $addFields: { m: { $regexMatch: { input: '$status', regex: '[' } } } }]),
  policy('$group without _id', [{ $group: { n: { $sum: 1 } } }]),
  policy('$group with an unknown accumulator', [{ $group: { _id: null, n: { $nope: 1 } } }]),
  policy('$group output that is no accumulator', [{ $group: { _id: null, n: 1 } }]),
  policy('$sort order 2', [{ $sort: { amount: 2 } }]),
  policy('$sort order "asc"', [{ $sort: { amount: 'asc' } }]),
  policy('unknown query operator', [{ $match: { amount: { $nope: 1 } } }]),
  policy('unknown top-level query operator', [{ $match: { $nope: 1 } }]),
  policy('$count: ""', [{ $count: '' }]),
  policy('$count: "$n"', [{ $count: '$n' }]),
  policy('$count: 1', [{ $count: 1 }]),
  policy('$unwind without $', [{ $unwind: 'history' }]),
  policy('$unwind: 1', [{ $unwind: 1 }]),
  policy('$project: {}', [{ $project: {} }]),
  policy('$project including and excluding', [{ $project: { status: 1, amount: 0 } }]),
  policy('$project of a $ field', [{ $project: { $status: 1 } }]),
  policy('$addFields: 1', [{ $addFields: 1 }]),
  policy('$match: 1', [{ $match: 1 }]),
  policy('$unset: []', [{ $unset: [] }]),
  policy('$replaceRoot without newRoot', [{ $replaceRoot: {} }]),
  policy('$replaceWith: 1', [{ $replaceWith: 1 }]),
  policy('$sortByCount: 1', [{ $sortByCount: 1 }]),
  policy('$bucket boundaries descending', [{ $bucket: { groupBy: '$amount', boundaries: [1000, 0] } }]),
  policy('$bucket without groupBy', [{ $bucket: { boundaries: [0, 1000] } }]),
  policy('$bucketAuto with 0 buckets', [{ $bucketAuto: { groupBy: '$amount', buckets: 0 } }]),
  policy('$facet: {}', [{ $facet: {} }]),
  policy('$facet of a non-array', [{ $facet: { a: 1 } }]),
  policy('$facet of an empty pipeline', [{ $facet: { a: [] } }]),
  policy('$facet inside $facet', [{ $match: {} }, { $facet: { a: [{ $facet: { b: [{ $count: 'n' }] } }] } }]),
  policy('$limit: -1 inside $facet', [{ $facet: { a: [{ $limit: -1 }] } }]),
  // Well-formed, and still impossible: the engine refuses them with the stage named.
  engine('$divide by zero', [{ $match: {} }, { $project: { ratio: { $divide: ['$amount', 0] } } }]),
  engine('$replaceWith a string', [{ $replaceWith: '$status' }]),
  engine('$bucket with no default for values outside it', [{ $bucket: { groupBy: '$amount', boundaries: [-2, -1] } }]),
  engine('$add of a string', [{ $addFields: { x: { $add: ['$status', 1] } } }]),
];
