/** The library entry: run serve mode in-process, or use the presence model on its own. */
export * from './core/index.js';
export { startServer, type RunningServer } from './serve.js';
export { resolveServeConfig, DEFAULT_SERVE_CONFIG, type ServeConfig, ConfigError } from './config.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './log/logger.js';
export { Topics, DEFAULT_LAYOUT, type TopicLayout } from './topics.js';
