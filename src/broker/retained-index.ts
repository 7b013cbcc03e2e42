import { Readable } from 'node:stream';

interface RetainedPacket {
  topic: string;
  payload: Buffer;
  [field: string]: unknown;
}

interface RetainedPersistence {
  storeRetained(packet: RetainedPacket, cb?: (error: Error | null) => void): Promise<void> | void;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

/**
 * Retained messages keyed by topic, for aedes' in-memory persistence.
 *
 * The product keeps one retained message per user ever seen (`presence/user/<id>`). aedes' memory
 * persistence answers every SUBSCRIBE by testing each filter against every retained topic, so each
 * subscription cost O(users): at 10,000 users, joining 3 groups meant 30,000 topic matches (benchmark
 * scenarios 4 and 5, docs/benchmarks.md). A filter without wildcards, which is what a group or a
 * single user's presence subscription is, now costs one map lookup; wildcard filters still scan, with
 * the same matching rules as before (`+` one level, `#` zero or more).
 */
export function indexRetained(persistence: RetainedPersistence): void {
  const retained = new Map<string, RetainedPacket>();
  persistence.storeRetained = (packet, cb) => {
    if (packet.payload.length === 0) retained.delete(packet.topic);
    else retained.set(packet.topic, { ...packet });
    if (cb) return void process.nextTick(cb, null);
    return Promise.resolve();
  };
  persistence.createRetainedStream = (pattern) => Readable.from(matching(retained, [pattern]));
  persistence.createRetainedStreamCombi = (patterns) => Readable.from(matching(retained, patterns));
}

function* matching(retained: Map<string, RetainedPacket>, patterns: string[]): Generator<RetainedPacket> {
  for (const pattern of patterns) {
    if (!pattern.includes('+') && !pattern.includes('#')) {
      const packet = retained.get(pattern);
      if (packet) yield packet;
      continue;
    }
    const filter = pattern.split('/');
    for (const [topic, packet] of retained) if (matches(filter, topic.split('/'))) yield packet;
  }
}

function matches(filter: string[], topic: string[]): boolean {
  for (let i = 0; i < filter.length; i++) {
    if (filter[i] === '#') return true;
    if (i >= topic.length) return false;
    if (filter[i] !== '+' && filter[i] !== topic[i]) return false;
  }
  return filter.length === topic.length;
}
