// Preloaded into a broker process under test (`node --expose-gc --import ./bench/probe.mjs ...`):
// answers the bench runner's memory probes over the IPC channel, after a full GC, so the numbers
// measure what is still reachable rather than when the collector last ran.
if (process.send) {
  process.on('message', (message) => {
    if (!message || message.probe !== 'memory') return;
    if (globalThis.gc) {
      globalThis.gc();
      globalThis.gc();
    }
    const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
    process.send({ probe: 'memory', id: message.id, rss, heapUsed, external, arrayBuffers });
  });
  // The IPC channel must not keep a broker alive, nor stop it from exiting on its own signal handling.
  process.channel?.unref();
}
