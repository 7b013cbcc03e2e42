import { spawnSync } from 'node:child_process';
import t from 'tap';
import { createLogger } from '../src/log/logger.js';

const collect = (level: Parameters<typeof createLogger>[0], base?: Record<string, unknown>) => {
  const lines: string[] = [];
  return { lines, log: createLogger(level, (line) => lines.push(line), base), parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
};

t.test('one JSON object per line: time (ISO), level by name, msg, bound and call fields', async (t) => {
  const { lines, log, parsed } = collect('info', { mode: 'serve' });
  const before = Date.now();
  log.info('listening', { mqttPort: 1883 });
  t.equal(lines.length, 1);
  t.notOk(lines[0]!.includes('\n'), 'the sink gets the line without its newline');
  const [line] = parsed();
  t.same(Object.keys(line!).sort(), ['level', 'mode', 'mqttPort', 'msg', 'time']);
  t.match(line, { level: 'info', msg: 'listening', mode: 'serve', mqttPort: 1883 });
  t.match(line!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.ok(Date.parse(line!.time as string) >= before - 1, 'stamped now');
});

t.test('levels below the threshold are dropped; each level is named', async (t) => {
  const { log, parsed } = collect('warn');
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  t.same(parsed().map((l) => [l.level, l.msg]), [['warn', 'w'], ['error', 'e']]);
  const all = collect('debug');
  all.log.debug('d');
  t.equal(all.parsed()[0]!.level, 'debug');
});

t.test('a child adds its fields to every line; the call adds more', async (t) => {
  const { log, parsed } = collect('debug', { mode: 'attach' });
  log.child({ clientId: 'c1' }).child({ userId: 'u1' }).info('joined', { groupId: 'g' });
  log.info('parent unchanged');
  t.match(parsed()[0], { mode: 'attach', clientId: 'c1', userId: 'u1', groupId: 'g', msg: 'joined' });
  t.notOk('clientId' in parsed()[1]!, 'the parent has no child fields');
});

t.test('an Error at any depth keeps name, message and stack; a bigint becomes a string', async (t) => {
  const { log, parsed } = collect('info');
  log.error('failed', { error: new TypeError('boom'), detail: { cause: new RangeError('deep'), list: [new Error('in array')] }, seq: 12n });
  const [line] = parsed();
  t.match(line, {
    error: { name: 'TypeError', message: 'boom', stack: /TypeError: boom/ },
    detail: { cause: { name: 'RangeError', message: 'deep' }, list: [{ name: 'Error', message: 'in array' }] },
    seq: '12',
  });
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  t.doesNotThrow(() => log.info('cyclic', { cyclic }), 'a cycle does not throw');
});

// The built logger (dist/, as the CLI tests run it), in a process of its own.
t.test('stdout: the last line logged before process.exit is written', async (t) => {
  const code = `import { createLogger } from ${JSON.stringify(new URL('../dist/log/logger.js', import.meta.url).href)};
    const log = createLogger('info'); for (let i = 0; i < 200; i++) log.info('line', { i }); process.exit(0);`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { i: number });
  t.equal(lines.length, 200);
  t.equal(lines.at(-1)!.i, 199);
});
