/**
 * The one loopback rule, for a configured host (`--host`) and a peer's socket address alike:
 * `localhost`, `::1` and 127.0.0.0/8, also as an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, how a
 * dual-stack listener reports an IPv4 peer). It decides where `serve` may run with anonymous clients,
 * where the query API is open without a token (src/http/api-access.ts) and which peers the connect rate
 * exempts (src/auth/security.ts). Names other than `localhost` are not resolved: `--host my-laptop` is
 * treated as reachable from the network.
 */
export function isLoopback(hostOrAddress: string): boolean {
  const plain = hostOrAddress.toLowerCase().startsWith('::ffff:') ? hostOrAddress.slice(7) : hostOrAddress;
  return plain === 'localhost' || plain === '::1' || /^127\.\d+\.\d+\.\d+$/.test(plain);
}
