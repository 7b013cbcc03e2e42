import t from 'tap';
import { resolveAttachConfig } from '../src/attach/config.js';
import { isLoopback } from '../src/config/loopback.js';
import { SHARED_CONFIG_PROPERTIES } from '../src/config/shared.js';
import { ConfigError, resolveServeConfig } from '../src/config.js';

const attach = (layer: unknown) => resolveAttachConfig({ broker: 'mqtt://127.0.0.1:1883' }, layer);

t.test('one loopback rule for a configured host and a peer address', async (t) => {
  for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.9']) t.ok(isLoopback(host), host);
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', 'localhost.example.com', '127.0.0.1.example.com', 'my-laptop', '']) {
    t.notOk(isLoopback(host), host);
  }
});

t.test('serve and attach resolve the shared keys alike: same defaults, same refusals', async (t) => {
  const serve = resolveServeConfig({});
  const bridge = attach({});
  for (const key of Object.keys(SHARED_CONFIG_PROPERTIES)) {
    if (key === 'httpPort') continue; // each mode's own default, so both run on one host
    t.same((bridge as unknown as Record<string, unknown>)[key], (serve as unknown as Record<string, unknown>)[key], `default ${key}`);
  }
  t.equal(serve.httpPort, 8080);
  t.equal(bridge.httpPort, 8081);
  const bad: [object, RegExp][] = [
    [{ graceMs: -1 }, /graceMs must be >= 0/],
    [{ prefix: 'a/+' }, /prefix must match pattern/],
    [{ prefix: 'p', groupPrefix: 'p/g' }, /groupPrefix must lie outside prefix/],
    [{ logLevel: 'loud' }, /logLevel must be equal to one of the allowed values/],
    [{ cluster: 'a b' }, /cluster must match pattern/],
  ];
  for (const [layer, message] of bad) {
    t.throws(() => resolveServeConfig(layer), { constructor: ConfigError, message }, `serve ${JSON.stringify(layer)}`);
    t.throws(() => attach(layer), { constructor: ConfigError, message }, `attach ${JSON.stringify(layer)}`);
  }
});

t.test('mode-specific keys belong to their mode only', async (t) => {
  t.throws(() => resolveServeConfig({ broker: 'mqtt://x' }), { constructor: ConfigError, message: /must NOT have additional properties 'broker'/ });
  t.throws(() => attach({ mqttPort: 1883 }), { constructor: ConfigError, message: /must NOT have additional properties 'mqttPort'/ });
  t.throws(() => attach({ usersFile: 'users.json' }), { constructor: ConfigError, message: /must NOT have additional properties 'usersFile'/ });
});
