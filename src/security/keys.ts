import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomFillSync } from 'node:crypto';

/** IVs are drawn from the CSPRNG in blocks: one call per 4,096 seals instead of one per seal. */
const IV_BYTES = 12;
const IV_BLOCK = IV_BYTES * 4_096;

/**
 * Keys derived from RETRACE_MASTER_KEY with HKDF-SHA256, one per purpose, so that a leak of one
 * derived key (say, a blind-index key) says nothing about the others.
 */
export type KeyPurpose =
  | 'platform-secrets'
  | 'pii-encryption'
  | 'pii-blind-index'
  | 'person-key'
  | 'audit-chain'
  | 'token-hash'
  | 'event-bodies';

export class Keyring {
  private readonly cache = new Map<KeyPurpose, Buffer>();
  private readonly ivs = Buffer.allocUnsafe(IV_BLOCK);
  private ivAt = IV_BLOCK;

  constructor(private readonly master: Buffer) {
    if (master.length < 32) throw new Error('master key must be at least 32 bytes');
  }

  key(purpose: KeyPurpose): Buffer {
    let k = this.cache.get(purpose);
    if (!k) {
      k = Buffer.from(hkdfSync('sha256', this.master, Buffer.from('retrace.v1'), Buffer.from(purpose), 32));
      this.cache.set(purpose, k);
    }
    return k;
  }

  /** AES-256-GCM; output = version byte | 12-byte IV | 16-byte tag | ciphertext. */
  encrypt(purpose: KeyPurpose, plaintext: string): Buffer {
    return this.encryptBytes(purpose, Buffer.from(plaintext, 'utf8'));
  }

  decrypt(purpose: KeyPurpose, sealed: Buffer): string {
    return this.decryptBytes(purpose, sealed).toString('utf8');
  }

  encryptBytes(purpose: KeyPurpose, plaintext: Buffer): Buffer {
    if (this.ivAt + IV_BYTES > IV_BLOCK) {
      randomFillSync(this.ivs);
      this.ivAt = 0;
    }
    const iv = this.ivs.subarray(this.ivAt, this.ivAt + IV_BYTES);
    this.ivAt += IV_BYTES;
    const cipher = createCipheriv('aes-256-gcm', this.key(purpose), iv);
    // Written into one buffer: this runs for every ingested event (and every batch line).
    const out = Buffer.allocUnsafe(29 + plaintext.length);
    out[0] = 1;
    iv.copy(out, 1);
    let n = cipher.update(plaintext).copy(out, 29);
    n += cipher.final().copy(out, 29 + n);
    cipher.getAuthTag().copy(out, 13);
    return n === plaintext.length ? out : out.subarray(0, 29 + n);
  }

  decryptBytes(purpose: KeyPurpose, sealed: Buffer): Buffer {
    if (sealed.length < 29 || sealed[0] !== 1) throw new Error('unknown ciphertext format');
    const iv = sealed.subarray(1, 13);
    const tag = sealed.subarray(13, 29);
    const decipher = createDecipheriv('aes-256-gcm', this.key(purpose), iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]);
  }

  /**
   * The opaque, stable key by which the API names a natural person: never the id number, and
   * not reversible to it without the master key. 'np_' + 32 base32 characters (160 bits).
   */
  personKey(idNumber: string): string {
    const mac = this.blindIndex(idNumber, 'person-key');
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    let bits = 0;
    let value = 0;
    let out = '';
    for (const byte of mac) {
      value = (value << 8) | byte;
      bits += 8;
      while (bits >= 5 && out.length < 32) {
        out += alphabet[(value >>> (bits - 5)) & 31];
        bits -= 5;
      }
      value &= (1 << bits) - 1;
    }
    return `np_${out}`;
  }

  /** Keyed hash for exact-match lookups of encrypted values (blind index). */
  blindIndex(value: string, purpose: KeyPurpose = 'pii-blind-index'): Buffer {
    return createHmac('sha256', this.key(purpose)).update(value, 'utf8').digest();
  }
}
