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

const MAX_STAGES = 50;
const MAX_DEPTH = 32;

export class PipelineRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PipelineRefused';
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;

/** Throws PipelineRefused unless every stage is allowed and no forbidden operator hides anywhere inside. */
export function checkPipeline(pipeline: unknown): asserts pipeline is PipelineStage[] {
  if (!Array.isArray(pipeline)) throw new PipelineRefused('pipeline must be an array of stages');
  if (pipeline.length > MAX_STAGES) throw new PipelineRefused(`a pipeline has at most ${String(MAX_STAGES)} stages`);
  pipeline.forEach((stage: unknown, index) => {
    if (!isPlainObject(stage)) throw new PipelineRefused(`stage ${String(index)} must be an object with one stage operator`);
    const keys = Object.keys(stage);
    const [operator] = keys;
    if (keys.length !== 1 || operator === undefined) throw new PipelineRefused(`stage ${String(index)} must name exactly one stage operator`);
    if (FORBIDDEN_OPERATORS.has(operator)) throw new PipelineRefused(`stage ${String(index)}: ${operator} is not allowed (read-only pipelines only)`);
    if (!ALLOWED_STAGES.has(operator)) throw new PipelineRefused(`stage ${String(index)}: ${operator} is not allowed; allowed stages: ${[...ALLOWED_STAGES].join(', ')}`);
    checkValue(stage[operator], `stage ${String(index)} (${operator})`, 0);
    if (operator === '$facet') checkFacets(stage[operator], index);
  });
}

function checkFacets(facets: unknown, index: number): void {
  if (!isPlainObject(facets)) throw new PipelineRefused(`stage ${String(index)}: $facet takes an object of pipelines`);
  for (const [name, sub] of Object.entries(facets)) {
    try {
      checkPipeline(sub);
    } catch (error) {
      if (error instanceof PipelineRefused) throw new PipelineRefused(`stage ${String(index)} ($facet.${name}): ${error.message}`);
      throw error;
    }
  }
}

function checkValue(value: unknown, where: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new PipelineRefused(`${where}: nested deeper than ${String(MAX_DEPTH)} levels`);
  if (Array.isArray(value)) {
    for (const item of value) checkValue(item, where, depth + 1);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (!isPlainObject(value)) throw new PipelineRefused(`${where}: only JSON values are allowed`);
  for (const [key, inner] of Object.entries(value)) {
    if (FORBIDDEN_OPERATORS.has(key)) throw new PipelineRefused(`${where}: ${key} is not allowed (read-only pipelines only)`);
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') throw new PipelineRefused(`${where}: field name ${key} is not allowed`);
    checkValue(inner, where, depth + 1);
  }
}
