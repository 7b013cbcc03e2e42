import { spawn } from 'node:child_process';
import t from 'tap';
import { ATTACH_HELP } from '../src/cli/attach.js';
import type { CommandHelp } from '../src/cli/help.js';
import { PASSWD_HELP } from '../src/cli/passwd.js';
import { SERVE_HELP } from '../src/cli/serve.js';
import { TOKEN_HELP } from '../src/cli/token.js';
import { WATCH_HELP } from '../src/cli/watch.js';
import { CLI } from './fixtures/process.js';

/** Runs the built CLI to its end: exit code, stdout, stderr. */
function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const COMMANDS: CommandHelp[] = [SERVE_HELP, ATTACH_HELP, WATCH_HELP, PASSWD_HELP, TOKEN_HELP];

t.test('presence-bridge --help lists every command', async (t) => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    const { code, stdout, stderr } = await run(args);
    t.equal(code, 0, `${args.join(' ')} exits 0`);
    t.equal(stderr, '', 'nothing on stderr');
    for (const command of COMMANDS) t.match(stdout, new RegExp(`^  ${command.name} +${command.summary.slice(0, 20).replace(/[()]/g, '.')}`, 'm'), `lists ${command.name}`);
  }
});

t.test('every command answers --help with each flag of its table, a description, and examples', async (t) => {
  for (const command of COMMANDS) {
    for (const args of [[command.name, '--help'], ['help', command.name], [command.name, '--port-typo', '-h']]) {
      const { code, stdout, stderr } = await run(args);
      t.equal(code, 0, `${args.join(' ')} exits 0`);
      t.equal(stderr, '', `${args.join(' ')}: no error, no stack trace`);
      t.match(stdout, new RegExp(`^usage: presence-bridge ${command.name} `, 'm'));
      for (const [name, entry] of Object.entries(command.flags)) {
        t.ok(entry.description, `--${name} of ${command.name} has a description`);
        const line = stdout.split('\n').findIndex((l) => l.startsWith(`  --${name} `) || l === `  --${name}`);
        t.ok(line >= 0, `${command.name} --help shows --${name}`);
      }
      t.match(stdout, /\nexamples:\n {2}presence-bridge |\nexamples:\n {2}\S/, 'has examples');
    }
  }
});

t.test('a flag added to a table without a description still shows in the help', async (t) => {
  const { commandHelp } = await import('../src/cli/help.js');
  const { flag } = await import('../src/cli/flags.js');
  const text = commandHelp({ ...SERVE_HELP, flags: { ...SERVE_HELP.flags, 'new-thing': flag('newThing', 'integer') } });
  t.match(text, /^ {2}--new-thing N +sets newThing$/m);
});
