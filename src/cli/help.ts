import type { FlagTable } from './flags.js';

/** What `presence-bridge <command> --help` says, besides the flags its table declares. */
export interface CommandHelp {
  name: string;
  /** One line: what the command does. */
  summary: string;
  /** After `presence-bridge <name>`, e.g. `--url URL [options]`. */
  usage: string;
  flags: FlagTable;
  /** Config values the flags default to, by config key (shown as "default ..."). */
  defaults?: Record<string, unknown>;
  /** Flags that are not config keys, already formatted as [flag, description]. */
  extra?: [string, string][];
  notes?: string[];
  examples: string[];
}

const WIDTH = 30;

/**
 * One command's help, generated from its flag table: every flag appears, with its description when it
 * has one, so a flag added to a table shows up here by itself.
 */
export function commandHelp(help: CommandHelp): string {
  const rows: [string, string][] = Object.entries(help.flags)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, entry]) => {
      const arg = entry.kind === 'boolean' ? '' : ` ${entry.arg ?? (entry.kind === 'integer' ? 'N' : name.split('-').pop()!.toUpperCase())}`;
      const fallback = help.defaults?.[entry.key];
      const shown = fallback === undefined || fallback === false ? '' : ` (default ${String(fallback)})`;
      return [`--${name}${arg}`, `${entry.description ?? `sets ${entry.key}`}${shown}`];
    });
  rows.push(...(help.extra ?? []), ['-h, --help', 'this help']);
  const lines = [
    `presence-bridge ${help.name}: ${help.summary}`,
    '',
    `usage: presence-bridge ${help.name} ${help.usage}`,
    '',
    'options:',
    ...rows.map(([left, right]) => `  ${left.padEnd(WIDTH)}${left.length >= WIDTH - 1 ? `\n  ${' '.repeat(WIDTH)}` : ''}${right}`),
  ];
  if (help.notes?.length) lines.push('', ...help.notes);
  lines.push('', 'examples:', ...help.examples.map((e) => `  ${e}`), '');
  return lines.join('\n');
}

/** `presence-bridge --help`: the commands, one line each. */
export function mainHelp(commands: CommandHelp[]): string {
  return [
    'usage: presence-bridge <command> [options]      (no command: serve)',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(10)}${c.summary}`),
    '',
    'Each command answers --help with its options and examples, e.g. presence-bridge serve --help.',
    'Docs: README.md and docs/ in the package (npm: presence-bridge).',
    '',
  ].join('\n');
}
