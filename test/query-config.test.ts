import t from 'tap';
import { ConfigError, resolveServeConfig } from '../src/config.js';

t.test('query limits and the API token are configuration, checked', async (t) => {
  const defaults = resolveServeConfig({});
  t.match(defaults, { maxQueryIds: 200, maxPageSize: 1000, defaultPageSize: 100, maxQueryBytes: 65536 });
  t.equal(defaults.apiToken, undefined, 'the API is open unless a token is given');
  t.match(resolveServeConfig({ maxPageSize: 10, defaultPageSize: 10, apiToken: 'abc' }), { maxPageSize: 10, apiToken: 'abc' });
  t.same(resolveServeConfig({ apiToken: 'from-file' }, { apiToken: undefined }).apiToken, 'from-file', 'an unset flag keeps the file value');
  for (const [layer, message] of [
    [{ maxPageSize: 10, defaultPageSize: 20 }, /defaultPageSize must not exceed maxPageSize/],
    [{ maxQueryIds: 0 }, /maxQueryIds must be >= 1/],
    [{ maxPageSize: 1.5 }, /maxPageSize must be integer/],
    [{ maxQueryBytes: 10 }, /maxQueryBytes must be >= 256/],
    [{ apiToken: '' }, /apiToken must NOT have fewer than 1 characters/],
    [{ apiToken: 'two words' }, /apiToken must match pattern/],
    [{ apiToken: 42 }, /apiToken must be string/],
  ] as const) {
    t.throws(() => resolveServeConfig(layer), { constructor: ConfigError, message }, JSON.stringify(layer));
  }
});
