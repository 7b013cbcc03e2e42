import type { JSONSchemaType } from 'ajv';
import { readFileSync } from 'node:fs';
import { compile } from '../schemas/ajv.js';
import { ConfigError } from './error.js';
import { SHARED_CONFIG_CHECKS, type SharedConfig } from './shared.js';

/** One command's config: its schema (the shared keys plus its own), its defaults and its cross-key checks. */
export interface ConfigMode<T extends SharedConfig> {
  schema: JSONSchemaType<Partial<T>>;
  defaults: Partial<T>;
  /** Run in order before the shared checks; each returns the problem in words, or undefined. */
  checks?: readonly ((config: T) => string | undefined)[];
}

/**
 * The one resolver of both commands: each layer (config file, flags, a caller's object; later wins) is
 * validated with ajv (unknown keys are errors), an `undefined` value leaves the key as the layers below set
 * it, the defaults fill the rest, then the checks run. Throws ConfigError `invalid configuration: ...`.
 */
export function configResolver<T extends SharedConfig>(mode: ConfigMode<T>): (...layers: unknown[]) => T {
  const check = compile(mode.schema);
  const checks = [...(mode.checks ?? []), ...SHARED_CONFIG_CHECKS] as readonly ((config: T) => string | undefined)[];
  return (...layers) => {
    const config: Record<string, unknown> = { ...mode.defaults };
    for (const layer of layers) {
      const checked = check(layer);
      if (!checked.ok) throw new ConfigError(`invalid configuration: ${checked.reason}`);
      for (const [key, value] of Object.entries(checked.value)) {
        if (value !== undefined) config[key] = value;
      }
    }
    for (const problemOf of checks) {
      const problem = problemOf(config as T);
      if (problem) throw new ConfigError(`invalid configuration: ${problem}`);
    }
    return config as T;
  };
}

/** Reads a JSON config file for the first layer; ConfigError when it cannot be read or parsed. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
}
