import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';

let validator: ValidateFunction | undefined;

function compile(): ValidateFunction {
  const schema = JSON.parse(readFileSync(new URL('../../specs/spec.schema.json', import.meta.url), 'utf8')) as object;
  return new Ajv({ allErrors: false, strict: true }).compile(schema);
}

/** Checks a dialect against specs/spec.schema.json; returns the first problem as a dotted path and reason. */
export function validateSpecShape(spec: unknown): { path: string; reason: string } | null {
  validator ??= compile();
  if (validator(spec)) return null;
  const err = validator.errors?.[0];
  if (!err) return { path: '(root)', reason: 'invalid' };
  const path = err.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(root)';
  const extra = err.keyword === 'additionalProperties' ? ` '${String((err.params as { additionalProperty?: string }).additionalProperty)}'` : '';
  return { path, reason: `${err.message ?? 'invalid'}${extra}` };
}
