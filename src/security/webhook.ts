import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * "{webhook-id}.{webhook-timestamp}.{raw body}" with the secret's bytes (base64 after `whsec_`),
 * sent as space-separated `v1,<base64>` entries. Node's own HMAC, compared in constant time.
 */
export const TIMESTAMP_TOLERANCE_SECONDS = 300;

export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export function secretBytes(secret: string): Buffer {
  const b64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  return Buffer.from(b64, 'base64');
}

export function sign(secret: Buffer, id: string, timestamp: number | string, body: Buffer | string): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${id}.${timestamp}.`);
  mac.update(body);
  return `v1,${mac.digest('base64')}`;
}

export type VerifyFailure = 'missing_headers' | 'bad_timestamp' | 'stale_timestamp' | 'bad_signature';

export function verify(
  secrets: readonly Buffer[],
  headers: { id?: string | null; timestamp?: string | null; signature?: string | null },
  body: Buffer,
  nowSeconds: number,
): { ok: true } | { ok: false; reason: VerifyFailure } {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing_headers' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  if (Math.abs(nowSeconds - Number(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS)
    return { ok: false, reason: 'stale_timestamp' };
  const candidates: Buffer[] = [];
  for (const part of signature.split(' ')) {
    const comma = part.indexOf(',');
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
    candidates.push(Buffer.from(part.slice(comma + 1), 'base64'));
  }
  if (candidates.length === 0) return { ok: false, reason: 'bad_signature' };
  for (const secret of secrets) {
    const mac = createHmac('sha256', secret);
    mac.update(`${id}.${timestamp}.`);
    mac.update(body);
    const expected = mac.digest();
    for (const c of candidates) {
      // Lengths are public (always 32 for SHA-256); only equal-length buffers are compared.
      if (c.length === expected.length && timingSafeEqual(c, expected)) return { ok: true };
    }
  }
  return { ok: false, reason: 'bad_signature' };
}
