#!/usr/bin/env node
import { ATTACH_HELP, runAttach } from './attach.js';
import { describeFailure, UsageError } from './errors.js';
import { commandHelp, mainHelp, type CommandHelp } from './help.js';
import { PASSWD_HELP, runPasswd } from './passwd.js';
import { runServe, SERVE_HELP } from './serve.js';
import { runToken, TOKEN_HELP } from './token.js';
import { runWatch, WATCH_HELP } from './watch.js';

/** Every command: its help (generated from its flag table, src/cli/help.ts) and what runs it. */
const COMMANDS: { help: CommandHelp; run: (args: string[]) => Promise<void> }[] = [
  { help: SERVE_HELP, run: runServe },
  { help: ATTACH_HELP, run: runAttach },
  { help: WATCH_HELP, run: runWatch },
  { help: PASSWD_HELP, run: runPasswd },
  { help: TOKEN_HELP, run: (args) => runToken(args) },
];

const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h' || arg === 'help';

async function main(argv: string[]): Promise<string> {
  const [first, ...rest] = argv;
  if (isHelp(first)) {
    const topic = COMMANDS.find((c) => c.help.name === rest[0]);
    process.stdout.write(topic ? commandHelp(topic.help) : mainHelp(COMMANDS.map((c) => c.help)));
    return 'help';
  }
  const name = first === undefined || first.startsWith('-') ? 'serve' : first;
  const args = name === first ? rest : argv;
  const command = COMMANDS.find((c) => c.help.name === name);
  currentCommand = command ? name : undefined;
  if (!command) throw new UsageError(`unknown command '${name}' (commands: ${COMMANDS.map((c) => c.help.name).join(', ')})`);
  // --help anywhere before a `--` asks for help instead of running.
  const end = args.indexOf('--');
  if ((end < 0 ? args : args.slice(0, end)).some((arg) => arg === '--help' || arg === '-h')) {
    process.stdout.write(commandHelp(command.help));
    return name;
  }
  await command.run(args);
  return name;
}

let currentCommand: string | undefined;

main(process.argv.slice(2)).catch((error: unknown) => {
  const { line, status } = describeFailure(error, currentCommand);
  process.stderr.write(line + '\n');
  if (wantsDebug(process.argv)) process.stderr.write(String((error as Error)?.stack ?? error) + '\n');
  process.exit(status);
});

/** `--log-level debug` (or `=debug`) on the command line: a failed start also prints the stack. */
function wantsDebug(argv: string[]): boolean {
  return argv.some((arg, i) => arg === '--log-level=debug' || (arg === '--log-level' && argv[i + 1] === 'debug'));
}
