// Preloaded into a broker process under test (`node --expose-gc --import ./bench/probe.mjs ...`):
// answers the bench runner's probes over the IPC channel: CPU time used so far, and memory after a full
// GC, so the numbers measure what is still reachable rather than when the collector last ran.
if (process.send) {
  process.on('message', (message) => {
    if (!message || message.probe !== 'memory') return;
    // CPU first, so the collections below are not billed to the scenario being measured.
    const { user, system } = process.cpuUsage();
    if (globalThis.gc) {
      globalThis.gc();
      globalThis.gc();
    }
    const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
    process.send({ probe: 'memory', id: message.id, rss, heapUsed, external, arrayBuffers, cpuMs: (user + system) / 1000 });
  });
  // The IPC channel must not keep a broker alive, nor stop it from exiting on its own signal handling.
  process.channel?.unref();
}
