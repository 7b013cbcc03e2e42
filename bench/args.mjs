// The bench's command line, apart from running anything, so that a mistake is caught before the 7 s
// build and before any file is touched: `node bench/run.mjs --help` prints USAGE.
import { parseArgs } from 'node:util';

export const SCENARIOS = ['churn', 'latency', 'loss', 'memory', 'storm', 'attach', 'cluster'];
export const SMOKE_SCENARIOS = ['churn', 'latency', 'loss', 'memory', 'storm'];

export const USAGE = `usage: npm run bench -- [options]        (or: node bench/run.mjs [options])

Runs each scenario against the product and its anchor (Mosquitto, bare Aedes), prints one JSON line
per measured row. Only a full run (every scenario, full sizes, no overrides) rewrites the published
results docs/benchmarks.md, docs/benchmarks.jsonl and docs/benchmarks.svg.

options:
  --only a,b         run only these scenarios: ${SCENARIOS.join(', ')}
  --smoke            tiny sizes, a quick check that every scenario runs (never published)
  --set key=value    override one size (repeatable), e.g. --set users=2000
  --out FILE         also write the rows as JSON lines to FILE
  --no-docs          never touch docs/, even after a full run
  --profile          CPU profiles of the product process into bench/profiles/
  -h, --help         this help

environment: BENCH_ONLY=a,b as --only; BENCH_<SIZE>=n (e.g. BENCH_USERS=2000) as --set.
`;

export class BenchUsageError extends Error {}

/**
 * Parses the bench's arguments (and BENCH_ONLY); throws BenchUsageError for an unknown flag or
 * scenario. `publish` says whether this run may rewrite the published results.
 */
export function parseBenchArgs(args, env = process.env) {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        smoke: { type: 'boolean', default: false },
        only: { type: 'string' },
        'no-docs': { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        out: { type: 'string' },
        set: { type: 'string', multiple: true, default: [] },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new BenchUsageError(String(error.message).split('. ')[0]);
  }
  const chosen = values.only ?? env.BENCH_ONLY;
  const only = (chosen ?? (values.smoke ? SMOKE_SCENARIOS : SCENARIOS).join(','))
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = only.filter((name) => !SCENARIOS.includes(name));
  if (unknown.length) throw new BenchUsageError(`unknown scenario${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')}: the scenarios are ${SCENARIOS.join(', ')}`);
  if (only.length === 0) throw new BenchUsageError(`--only names no scenario: the scenarios are ${SCENARIOS.join(', ')}`);
  const sizeOverrides = values.set.length > 0 || Object.keys(env).some((key) => key.startsWith('BENCH_') && !['BENCH_ONLY', 'BENCH_PROFILE', 'BENCH_NO_BUILD'].includes(key));
  const full = !values.smoke && SCENARIOS.every((name) => only.includes(name)) && !sizeOverrides;
  return { flags: values, only: new Set(only), help: values.help, full, publish: full && !values['no-docs'] };
}
