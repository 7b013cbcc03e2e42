/**
 * A configuration (file, flags, a caller's object) that cannot run: the CLI prints its message on one line
 * and exits with status 2 (src/cli/errors.ts). A leaf: every part may throw it without importing the config.
 */
export class ConfigError extends Error {}
