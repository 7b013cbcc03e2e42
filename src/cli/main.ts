#!/usr/bin/env node
import { ConfigError } from '../config.js';
import { runAttach } from './attach.js';
import { PASSWD_USAGE, runPasswd } from './passwd.js';
import { runServe } from './serve.js';
import { runWatch } from './watch.js';

const USAGE = `usage: presence-bridge <command> [options]

commands:
  serve     run the embedded MQTT broker with presence (default)
            [--host H] [--mqtt-port N] [--http-port N] [--grace MS] [--config FILE]
            [--prefix P] [--group-prefix P] [--max-data-bytes N] [--allow-anonymous] [--log-level L]
            [--users-file F] [--jwt-secret-file F] [--jwt-public-key-file F] [--jwt-issuer I]
            [--jwt-audience A] [--authorization open|shared-group] [--authorization-module M]
            [--max-connections-per-user N] [--max-groups-per-user N] [--max-members-per-group N]
            [--max-user-ids-per-subscribe N] [--max-packet-bytes N] [--max-queued-messages N]
            [--connect-rate-per-ip N] [--connect-burst-per-ip N]     (SIGHUP re-reads the users file)
            [--jwt-max-lifetime SEC] [--login-failures-per-account N] [--login-failures-per-ip N]
            [--login-backoff-ms MS] [--login-backoff-max-ms MS]
            [--max-inflight-messages N] [--max-queued-bytes N] [--persistent-session-expiry SECONDS]
            [--api-token T] [--max-query-ids N] [--max-page-size N]
            [--query-rate-per-client N] [--http-query-rate-per-ip N]
            [--announce-max N] [--interval-ms MS] [--interval-max-ids N]   (large groups)
            [--max-updates-per-minute N]   (data updates per connection; default 30)
            [--redis URL [--cluster NAME] [--node-timeout MS] [--node-id ID]]   (docs/cluster.md)
  attach    add presence to an existing broker (Mosquitto, EMQX, HiveMQ, ...) as its MQTT client
            --broker URL [--username U --password P] [--bridge-id ID] [--host H] [--http-port N]
            [--grace MS] [--config FILE] [--prefix P] [--group-prefix P] [--max-data-bytes N]
            [--reconnect-ms N] [--log-level L]   (password also from $PRESENCE_BRIDGE_PASSWORD)
            [--api-token T] [--max-query-ids N] [--max-page-size N]
            [--query-rate-per-client N] [--http-query-rate-per-ip N]
            [--announce-max N] [--interval-ms MS] [--interval-max-ids N]   (large groups)
            [--max-updates-per-minute N]
            [--redis URL [--cluster NAME] [--node-timeout MS]]   (one active bridge, docs/cluster.md)
  watch     print presence events as JSON lines
            --url URL [--users a,b] [--groups g,h] [--id ID] [--password P] [--changes-only]
${PASSWD_USAGE}`;

const commands: Record<string, (args: string[]) => Promise<void>> = {
  serve: runServe,
  attach: runAttach,
  watch: runWatch,
  passwd: runPasswd,
};

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const name = first === undefined || first.startsWith('-') ? 'serve' : first;
  const args = name === first ? rest : argv;
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command '${name}'`);
  await command(args);
}

export class UsageError extends Error {}

main(process.argv.slice(2)).catch((error: unknown) => {
  const known = error instanceof ConfigError || error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  process.stderr.write(
    JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: known ? (error as Error).message : 'fatal', error: String((error as Error)?.stack ?? error) }) + '\n',
  );
  if (error instanceof UsageError) process.stderr.write(USAGE);
  process.exit(known ? 2 : 1);
});
