import * as crypto from 'node:crypto';

/**
 * JSON with object keys sorted at every level: equal content gives equal bytes. Hashes of this
 * text are stored (event content, audit chain, rule fingerprints), so its output must never
 * change; test/http/ingest-equivalence.test.ts checks it against the first, plainer definition.
 * Written with loops and string appends: it runs for every ingested event.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // As Array#join: undefined (a hole, a function) contributes nothing.
      const s = canonicalJson(value[i]) as string | undefined;
      if (s !== undefined) out += s;
    }
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  // Own enumerable string keys, sorted by UTF-16 code units (the default sort of strings).
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += quotedKey(k);
    out += ':';
    out += canonicalJson(v);
  }
  return `${out}}`;
}

/**
 * JSON.stringify of an object key, remembered: events repeat the same few dozen keys, and
 * quoting them again was a third of the time of canonicalJson. Bounded, since keys come from
 * clients: only short keys are kept, and only the first few thousand distinct ones.
 */
const quotedKeys = new Map<string, string>();
const MAX_QUOTED_KEYS = 4_096;
const MAX_QUOTED_KEY_LENGTH = 64;

function quotedKey(k: string): string {
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = JSON.stringify(k);
    if (k.length <= MAX_QUOTED_KEY_LENGTH && quotedKeys.size < MAX_QUOTED_KEYS) quotedKeys.set(k, q);
  }
  return q;
}

// crypto.hash (Node ≥ 20.12) hashes in one call, without a Hash object.
const oneShot = (crypto as { hash?: (alg: string, data: string | Buffer, enc: 'buffer') => Buffer }).hash;

export function sha256(data: string | Buffer): Buffer {
  return oneShot ? oneShot('sha256', data, 'buffer') : crypto.createHash('sha256').update(data).digest();
}

/** The content a record version is compared by: its type and data, not the envelope's timestamp. */
export function contentHash(type: string, data: unknown): Buffer {
  return sha256(canonicalJson({ type, data }));
}
