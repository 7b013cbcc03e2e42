import t from 'tap';
import { resolveAttachConfig } from '../src/attach/config.js';
import { configLayers, SHARED_FLAGS } from '../src/cli/flags.js';
import { ConfigError, resolveServeConfig } from '../src/config.js';

t.test('interval mode is configuration in both modes, from flags or the file, checked', async (t) => {
  t.match(resolveServeConfig({}), { announceMax: 1000, intervalMs: 1000, intervalMaxIds: 100 }, 'serve defaults');
  t.match(resolveAttachConfig({ broker: 'mqtt://127.0.0.1:1883' }), { announceMax: 1000, intervalMs: 1000, intervalMaxIds: 100 }, 'attach defaults');
  const [, flags] = configLayers(['--announce-max', '0', '--interval-ms', '250', '--interval-max-ids', '20'], SHARED_FLAGS);
  t.same(flags, { announceMax: 0, intervalMs: 250, intervalMaxIds: 20 }, 'the flags name the keys');
  t.match(resolveServeConfig(flags), { announceMax: 0, intervalMs: 250, intervalMaxIds: 20 });
  t.match(resolveAttachConfig({ broker: 'mqtt://127.0.0.1:1883' }, flags), { announceMax: 0, intervalMs: 250 });
  t.throws(() => configLayers(['--announce-max', 'lots'], SHARED_FLAGS), { constructor: ConfigError, message: /--announce-max takes a whole number/ });
  for (const [layer, message] of [
    [{ intervalMs: 5 }, /intervalMs must be >= 10/],
    [{ intervalMaxIds: 0 }, /intervalMaxIds must be >= 1/],
    [{ announceMax: 1.5 }, /announceMax must be integer/],
  ] as const) {
    t.throws(() => resolveServeConfig(layer), { constructor: ConfigError, message }, JSON.stringify(layer));
    t.throws(() => resolveAttachConfig({ broker: 'mqtt://127.0.0.1:1883' }, layer), { constructor: ConfigError, message }, `attach ${JSON.stringify(layer)}`);
  }
});
