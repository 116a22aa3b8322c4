import { PipelineStage } from '../document-store';

/** Stages an analyst may use: they read and reshape, never write, never run code, never reach other collections. */
export const ALLOWED_STAGES: ReadonlySet<string> = new Set([
  '$match',
  '$project',
  '$addFields',
  '$set',
  '$unset',
  '$group',
  '$sort',
  '$limit',
  '$skip',
  '$count',
  '$unwind',
  '$bucket',
  '$bucketAuto',
  '$sortByCount',
  '$replaceRoot',
  '$replaceWith',
  '$facet',
]);

/** Operators refused wherever they appear, at any depth: they write ($out, $merge) or run server-side JavaScript. */
export const FORBIDDEN_OPERATORS: ReadonlySet<string> = new Set(['$out', '$merge', '$function', '$where', '$accumulator']);

/** Accumulators, for `$group` and `$bucket` outputs: those both engines (MongoDB, mingo) know. */
const ACCUMULATORS: ReadonlySet<string> = new Set(
  ('$addToSet $avg $bottom $bottomN $count $covariancePop $covarianceSamp $first $firstN $last $lastN $max $maxN $median ' +
    '$mergeObjects $min $minN $percentile $push $stdDevPop $stdDevSamp $sum $top $topN').split(' '),
);

/**
 * Every operator name a stage's arguments may hold, at any depth: query operators, expression operators and the
 * accumulators (also expressions). Those both engines know, so that a pipeline runs the same embedded and on
 * MongoDB; anything else starting with `$` in a key is an unknown operator (field names never start with `$`).
 */
const KNOWN_OPERATORS: ReadonlySet<string> = new Set([
  ...ACCUMULATORS,
  // Query operators ($regex's companion $options included).
  ...('$all $and $bitsAllClear $bitsAllSet $bitsAnyClear $bitsAnySet $elemMatch $eq $exists $expr $gt $gte $in $lt $lte $mod ' +
    '$ne $nin $nor $not $options $or $regex $size $type').split(' '),
  // Expression operators.
  ...('$abs $acos $acosh $add $allElementsTrue $and $anyElementTrue $arrayElemAt $arrayToObject $asin $asinh $atan $atan2 ' +
    '$atanh $bitAnd $bitNot $bitOr $bitXor $ceil $cmp $concat $concatArrays $cond $convert $cos $cosh $dateAdd $dateDiff ' +
    '$dateFromParts $dateFromString $dateSubtract $dateToParts $dateToString $dateTrunc $dayOfMonth $dayOfWeek $dayOfYear ' +
    '$degreesToRadians $divide $eq $exp $filter $first $firstN $floor $getField $gt $gte $hour $ifNull $in $indexOfArray ' +
    '$indexOfBytes $isArray $isNumber $isoDayOfWeek $isoWeek $isoWeekYear $last $lastN $let $literal $ln $log $log10 $lt ' +
    '$lte $ltrim $map $maxN $median $mergeObjects $millisecond $minN $minute $mod $month $multiply $ne $not $objectToArray ' +
    '$or $percentile $pow $radiansToDegrees $rand $range $reduce $regexFind $regexFindAll $regexMatch $replaceAll ' +
    '$replaceOne $reverseArray $round $rtrim $second $setDifference $setEquals $setField $setIntersection $setIsSubset ' +
    '$setUnion $sin $sinh $size $slice $sortArray $split $sqrt $strLenBytes $strLenCP $strcasecmp $substr $substrBytes ' +
    '$substrCP $subtract $switch $tan $tanh $toBool $toDate $toDecimal $toDouble $toInt $toLong $toLower $toString $toUpper ' +
    '$trim $trunc $type $unsetField $week $year $zip').split(' '),
]);

/** Regular-expression options both engines accept (MongoDB's `x` is unknown to JavaScript). */
const REGEX_OPTIONS = /^[imsu]*$/;
const REGEX_EXPRESSIONS: ReadonlySet<string> = new Set(['$regexMatch', '$regexFind', '$regexFindAll']);

const MAX_STAGES = 50;
const MAX_DEPTH = 32;
const MAX_SORT_KEYS = 32;

/** Where in a pipeline a refusal points: the top-level stage (a `$facet` for anything inside one). */
export interface StageRef {
  readonly stage: number;
  readonly operator: string;
}

export class PipelineRefused extends Error {
  constructor(
    message: string,
    readonly where?: StageRef,
  ) {
    super(message);
    this.name = 'PipelineRefused';
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;

/**
 * Throws PipelineRefused unless every stage is allowed, no forbidden operator hides anywhere inside, and each stage's
 * arguments have a shape the engines can run: what MongoDB refuses when it parses a pipeline is refused here, before
 * any document is read, on either store. Each message names the stage (`stage 2 ($limit): …`).
 */
export function checkPipeline(pipeline: unknown): asserts pipeline is PipelineStage[] {
  checkStages(pipeline, (message, where) => new PipelineRefused(message, where), false);
}

/** Makes the refusal: at the top level a PipelineRefused pointing at the stage, inside a facet one pointing at the facet. */
type Refuse = (message: string, where?: StageRef) => PipelineRefused;

function checkStages(pipeline: unknown, refuse: Refuse, inFacet: boolean): asserts pipeline is PipelineStage[] {
  if (!Array.isArray(pipeline)) throw refuse('pipeline must be an array of stages');
  if (pipeline.length > MAX_STAGES) throw refuse(`a pipeline has at most ${String(MAX_STAGES)} stages`);
  pipeline.forEach((stage: unknown, index) => {
    if (!isPlainObject(stage)) throw refuse(`stage ${String(index)} must be an object with one stage operator`);
    const keys = Object.keys(stage);
    const [operator] = keys;
    if (keys.length !== 1 || operator === undefined) throw refuse(`stage ${String(index)} must name exactly one stage operator`);
    const where = { stage: index, operator };
    if (FORBIDDEN_OPERATORS.has(operator)) throw refuse(`stage ${String(index)}: ${operator} is not allowed (read-only pipelines only)`, where);
    if (!ALLOWED_STAGES.has(operator)) throw refuse(`stage ${String(index)}: ${operator} is not allowed; allowed stages: ${[...ALLOWED_STAGES].join(', ')}`, where);
    const fail: Fail = (message) => refuse(`stage ${String(index)} (${operator}): ${message}`, where);
    const argument = stage[operator];
    checkValue(argument, fail, 0);
    if (operator === '$facet') {
      if (inFacet) throw fail('$facet is not allowed inside a $facet');
      checkFacets(argument, fail);
      return;
    }
    checkOperators(argument, fail);
    STAGE_ARGUMENTS[operator]?.(argument, fail);
  });
}

type Fail = (message: string) => PipelineRefused;

function checkFacets(facets: unknown, fail: Fail): void {
  if (!isPlainObject(facets) || Object.keys(facets).length === 0) throw fail('takes an object of one or more named pipelines');
  for (const [name, sub] of Object.entries(facets)) {
    checkFieldName(name, fail, 'a facet name');
    if (!Array.isArray(sub) || sub.length === 0) throw fail(`facet ${name} must be a non-empty array of stages`);
    // A stage inside a facet is refused as the facet: its position is the one the analyst can find.
    checkStages(sub, (message) => fail(`facet ${name}: ${message}`), true);
  }
}

function checkValue(value: unknown, fail: Fail, depth: number): void {
  if (depth > MAX_DEPTH) throw fail(`nested deeper than ${String(MAX_DEPTH)} levels`);
  if (Array.isArray(value)) {
    for (const item of value) checkValue(item, fail, depth + 1);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (!isPlainObject(value)) throw fail('only JSON values are allowed');
  for (const [key, inner] of Object.entries(value)) {
    if (FORBIDDEN_OPERATORS.has(key)) throw fail(`${key} is not allowed (read-only pipelines only)`);
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') throw fail(`field name ${key} is not allowed`);
    checkValue(inner, fail, depth + 1);
  }
}

/** Every `$` key is an operator both engines know (a `$literal` is not looked into), and every literal regex compiles. */
function checkOperators(value: unknown, fail: Fail): void {
  if (Array.isArray(value)) {
    for (const item of value) checkOperators(item, fail);
    return;
  }
  if (!isPlainObject(value)) return;
  if ('$options' in value && !('$regex' in value)) throw fail('$options needs a $regex beside it');
  for (const [key, inner] of Object.entries(value)) {
    if (!key.startsWith('$')) {
      checkOperators(inner, fail);
      continue;
    }
    if (!KNOWN_OPERATORS.has(key)) throw fail(`unknown operator ${key}`);
    if (key === '$literal') continue;
    if (key === '$regex') checkRegex(inner, value.$options, fail, '$regex');
    if (REGEX_EXPRESSIONS.has(key)) {
      if (!isPlainObject(inner) || !('input' in inner) || !('regex' in inner)) throw fail(`${key} takes {input, regex, options?}`);
      // A field path or an expression is only known per document: the engine checks those.
      if (typeof inner.regex === 'string' && !inner.regex.startsWith('$')) checkRegex(inner.regex, typeof inner.options === 'string' ? inner.options : undefined, fail, key);
    }
    checkOperators(inner, fail);
  }
}

function checkRegex(pattern: unknown, options: unknown, fail: Fail, operator: string): void {
  if (typeof pattern !== 'string') throw fail(`${operator} takes a pattern string`);
  if (options !== undefined && (typeof options !== 'string' || !REGEX_OPTIONS.test(options))) throw fail(`${operator} options are letters of "imsu", got ${JSON.stringify(options)}`);
  try {
    new RegExp(pattern, options);
  } catch (error) {
    throw fail(`${operator} ${JSON.stringify(pattern)} is not a valid regular expression (${(error as Error).message})`);
  }
}

/** A name a stage creates (an output field, a count, a facet): not empty, not an operator, not a path. */
function checkFieldName(name: unknown, fail: Fail, what: string): void {
  if (typeof name !== 'string' || name === '' || name.startsWith('$') || name.includes('.') || name.includes('\u0000')) {
    throw fail(`${what} must be a non-empty string without a leading $ or a dot, got ${JSON.stringify(name)}`);
  }
}

/** The fields `$project`, `$addFields` and `$set` write: dotted paths allowed, each part a field name. */
function checkOutputPaths(fields: Record<string, unknown>, fail: Fail): void {
  for (const path of Object.keys(fields)) for (const part of path.split('.')) checkFieldName(part, fail, `field ${JSON.stringify(path)}`);
}

const isFieldPath = (value: unknown): value is string => typeof value === 'string' && value.length > 1 && value.startsWith('$') && !value.startsWith('$$');
/** An expression worth grouping or sorting by: a field path, a variable, or an operator object (not a constant). */
const isExpression = (value: unknown): boolean => (typeof value === 'string' && value.startsWith('$') && value.length > 1) || (isPlainObject(value) && Object.keys(value).length > 0);
const isCount = (value: unknown, min: number): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= min;

function onlyKeys(argument: Record<string, unknown>, allowed: readonly string[], fail: Fail): void {
  const unknown = Object.keys(argument).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) throw fail(`unknown field ${unknown[0] ?? ''}; it takes ${allowed.join(', ')}`);
}

/** Accumulator outputs of `$group` and `$bucket`: `{name: {$accumulator: expression}}`. */
function checkAccumulators(fields: Record<string, unknown>, fail: Fail): void {
  for (const [name, spec] of Object.entries(fields)) {
    checkFieldName(name, fail, 'an output field');
    const keys = isPlainObject(spec) ? Object.keys(spec) : [];
    if (keys.length !== 1 || !ACCUMULATORS.has(keys[0] ?? '')) throw fail(`output field ${name} must be {<accumulator>: expression} with one of ${[...ACCUMULATORS].join(', ')}`);
  }
}

/** Per stage, what MongoDB requires of its argument (the engines' own checks run as well, with the stage named). */
const STAGE_ARGUMENTS: Readonly<Record<string, (argument: unknown, fail: Fail) => void>> = {
  $match(argument, fail) {
    if (!isPlainObject(argument)) throw fail('takes a query object');
  },
  $limit(argument, fail) {
    if (!isCount(argument, 1)) throw fail(`takes a positive integer, got ${JSON.stringify(argument)}`);
  },
  $skip(argument, fail) {
    if (!isCount(argument, 0)) throw fail(`takes a non-negative integer, got ${JSON.stringify(argument)}`);
  },
  $sort(argument, fail) {
    if (!isPlainObject(argument) || Object.keys(argument).length === 0) throw fail('takes an object of one or more fields, each 1 or -1');
    if (Object.keys(argument).length > MAX_SORT_KEYS) throw fail(`sorts by at most ${String(MAX_SORT_KEYS)} fields`);
    for (const [field, order] of Object.entries(argument)) {
      if (field === '' || field.startsWith('$')) throw fail(`cannot sort by ${JSON.stringify(field)}`);
      if (order !== 1 && order !== -1) throw fail(`field ${field} must be 1 or -1, got ${JSON.stringify(order)}`);
    }
  },
  $group(argument, fail) {
    if (!isPlainObject(argument) || !('_id' in argument)) throw fail('takes an object with an _id (the grouping key; null for one group)');
    checkAccumulators(Object.fromEntries(Object.entries(argument).filter(([field]) => field !== '_id')), fail);
  },
  $count(argument, fail) {
    checkFieldName(argument, fail, 'the count field');
    if (argument === '_id') throw fail('the count field cannot be _id');
  },
  $project(argument, fail) {
    if (!isPlainObject(argument) || Object.keys(argument).length === 0) throw fail('takes an object of one or more fields');
    checkOutputPaths(argument, fail);
    // Exclusion (0/false) and inclusion or computed fields cannot be mixed, except for excluding _id.
    const kinds = Object.entries(argument)
      .filter(([field]) => field !== '_id')
      .map(([, spec]) => (spec === 0 || spec === false ? 'exclude' : 'include'));
    if (kinds.includes('exclude') && kinds.includes('include')) throw fail('cannot both include and exclude fields (other than _id)');
  },
  $addFields(argument, fail) {
    if (!isPlainObject(argument)) throw fail('takes an object of fields');
    checkOutputPaths(argument, fail);
  },
  $set(argument, fail) {
    if (!isPlainObject(argument)) throw fail('takes an object of fields');
    checkOutputPaths(argument, fail);
  },
  $unset(argument, fail) {
    const fields = typeof argument === 'string' ? [argument] : argument;
    if (!Array.isArray(fields) || fields.length === 0) throw fail('takes a field name or a non-empty array of them');
    for (const field of fields) if (typeof field !== 'string' || field === '' || field.startsWith('$')) throw fail(`cannot unset ${JSON.stringify(field)}`);
  },
  $unwind(argument, fail) {
    if (typeof argument === 'string') {
      if (!isFieldPath(argument)) throw fail(`takes a field path starting with $, got ${JSON.stringify(argument)}`);
      return;
    }
    if (!isPlainObject(argument)) throw fail('takes a field path or {path, includeArrayIndex?, preserveNullAndEmptyArrays?}');
    onlyKeys(argument, ['path', 'includeArrayIndex', 'preserveNullAndEmptyArrays'], fail);
    if (!isFieldPath(argument.path)) throw fail(`path must be a field path starting with $, got ${JSON.stringify(argument.path)}`);
    if (argument.includeArrayIndex !== undefined) checkFieldName(argument.includeArrayIndex, fail, 'includeArrayIndex');
    if (argument.preserveNullAndEmptyArrays !== undefined && typeof argument.preserveNullAndEmptyArrays !== 'boolean') throw fail('preserveNullAndEmptyArrays must be true or false');
  },
  $replaceRoot(argument, fail) {
    if (!isPlainObject(argument)) throw fail('takes {newRoot: expression}');
    onlyKeys(argument, ['newRoot'], fail);
    if (!isExpression(argument.newRoot)) throw fail('newRoot must be a field path or an object');
  },
  $replaceWith(argument, fail) {
    if (!isExpression(argument)) throw fail('takes a field path or an object');
  },
  $sortByCount(argument, fail) {
    if (!isExpression(argument)) throw fail('takes a field path starting with $ or an expression object');
  },
  $bucket(argument, fail) {
    if (!isPlainObject(argument)) throw fail('takes {groupBy, boundaries, default?, output?}');
    onlyKeys(argument, ['groupBy', 'boundaries', 'default', 'output'], fail);
    if (!isExpression(argument.groupBy)) throw fail('groupBy must be a field path or an expression object');
    const { boundaries } = argument;
    if (!Array.isArray(boundaries) || boundaries.length < 2) throw fail('boundaries must be an array of at least two values');
    const numeric = boundaries.every((b) => typeof b === 'number' && Number.isFinite(b));
    const text = boundaries.every((b) => typeof b === 'string');
    if (!numeric && !text) throw fail('boundaries must all be numbers or all be strings');
    for (let i = 1; i < boundaries.length; i++) {
      if (!((boundaries[i - 1] as number | string) < (boundaries[i] as number | string))) throw fail('boundaries must be in ascending order, without repeats');
    }
    if (argument.output !== undefined) {
      if (!isPlainObject(argument.output)) throw fail('output must be an object of accumulators');
      checkAccumulators(argument.output, fail);
    }
  },
  $bucketAuto(argument, fail) {
    if (!isPlainObject(argument)) throw fail('takes {groupBy, buckets, output?, granularity?}');
    onlyKeys(argument, ['groupBy', 'buckets', 'output', 'granularity'], fail);
    if (!isExpression(argument.groupBy)) throw fail('groupBy must be a field path or an expression object');
    if (!isCount(argument.buckets, 1)) throw fail(`buckets must be a positive integer, got ${JSON.stringify(argument.buckets)}`);
    if (argument.granularity !== undefined && typeof argument.granularity !== 'string') throw fail('granularity must be a string');
    if (argument.output !== undefined) {
      if (!isPlainObject(argument.output)) throw fail('output must be an object of accumulators');
      checkAccumulators(argument.output, fail);
    }
  },
};

/**
 * The stage an engine's error message points at, when it names an operator the pipeline uses (MongoDB's messages
 * name the stage or the operator; its position is for us to find): the first stage with that operator as its own,
 * else the first holding it anywhere inside.
 */
export function stageMentionedIn(message: string, pipeline: readonly PipelineStage[]): StageRef | undefined {
  const operators = pipeline.map((stage) => Object.keys(stage)[0] ?? '');
  for (const token of message.match(/\$[A-Za-z]\w*/g) ?? []) {
    const own = operators.indexOf(token);
    if (own >= 0) return { stage: own, operator: token };
    const inside = pipeline.findIndex((stage) => holdsKey(stage, token));
    if (inside >= 0) return { stage: inside, operator: operators[inside] ?? '' };
  }
  return undefined;
}

function holdsKey(value: unknown, key: string): boolean {
  if (Array.isArray(value)) return value.some((item) => holdsKey(item, key));
  if (typeof value !== 'object' || value === null) return false;
  return Object.entries(value).some(([k, inner]) => k === key || holdsKey(inner, key));
}
