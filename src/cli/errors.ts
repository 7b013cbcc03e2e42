import { ConfigError } from '../config.js';
import { StartupError } from '../listen.js';

/**
 * A command line the command cannot run: an unknown flag, a missing value, a stray argument. Carries
 * node's `ERR_PARSE_ARGS_*` code when it came from parsing. Exit status 2, like ConfigError.
 */
export class UsageError extends ConfigError {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** node:util parseArgs' error, reworded: which option, and the nearest known flag for a typo. */
export function unknownOption(error: unknown, known: string[]): unknown {
  const code = (error as { code?: string }).code;
  if (!code?.startsWith('ERR_PARSE_ARGS')) return error;
  const message = (error as Error).message;
  const option = /'(-[^' <]*)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) {
    const near = nearest(option.replace(/^-+/, '').split('=')[0]!, known);
    return new UsageError(`unknown option '${option}'${near ? ` (did you mean --${near}?)` : ''}`, code);
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    return new UsageError(/does not take/.test(message) ? `${option} takes no value` : `${option} needs a value`, code);
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const word = /'([^']*)'/.exec(message)?.[1] ?? '';
    return new UsageError(`unexpected argument '${word}' (flags take the form --name value)`, code);
  }
  return new UsageError(message.split('. ')[0]!, code);
}

/** The known name within edit distance 2 (or containing the typed one), if there is exactly a best one. */
function nearest(typed: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of known) {
    const d = name.includes(typed) && typed.length >= 3 ? 1 : distance(typed, name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/**
 * What a failed start prints: one line naming the problem and the fix, and the exit status (2 for a
 * command line or configuration to correct, 1 for the rest). Unknown errors keep their message; their
 * stack is for `--log-level debug`.
 */
export function describeFailure(error: unknown, command: string | undefined): { line: string; status: number } {
  const who = command ? `presence-bridge ${command}` : 'presence-bridge';
  if (error instanceof UsageError) return { line: `${who}: ${error.message}; see ${who} --help`, status: 2 };
  if (error instanceof ConfigError) return { line: `${who}: ${error.message}`, status: 2 };
  if (error instanceof StartupError) return { line: `${who}: ${error.message}`, status: 1 };
  const message = error instanceof Error ? error.message : String(error);
  return { line: `${who}: ${message} (run with --log-level debug for the stack trace)`, status: 1 };
}
