import type { Db } from '../db/database';
import { findPlatform, listActiveMaterialCodes, PLATFORM_CODE } from '../repositories/platforms.repository';
import type { Keyring } from '../security/keys';

export interface ActivePlatform {
  code: string;
  enabled: boolean;
  rateLimitPerSecond: number;
  secrets: Buffer[];
}

/**
 * Platforms and their decrypted secrets, cached per process for `ttlMs` (default 5 s). The
 * platform commands notify every API process when they commit (PLATFORMS_CHANNEL), and `clear`
 * empties the cache then: a new platform, a rotated secret or a disabled platform takes effect at
 * once; the TTL only bounds a notification lost in between. Unknown codes are cached too, so
 * unauthenticated traffic cannot hammer the database.
 */
export class PlatformCache {
  private readonly entries = new Map<string, { value: ActivePlatform | null; at: number }>();

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly ttlMs = 5_000,
  ) {}

  /** Forgets every platform (a platform changed elsewhere). */
  clear(): void {
    this.entries.clear();
  }

  async get(code: string): Promise<ActivePlatform | null> {
    // A string that cannot be a platform code (U+0000, say, which PostgreSQL refuses) is no platform.
    if (!PLATFORM_CODE.test(code)) return null;
    const hit = this.entries.get(code);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.value;
    const row = await findPlatform(this.db, code);
    const value: ActivePlatform | null = row
      ? {
          code: row.code,
          enabled: row.status === 'enabled',
          rateLimitPerSecond: row.rateLimitPerSecond,
          secrets: row.secrets.map((s) =>
            Buffer.from(
              this.keyring.decrypt('platform-secrets', s.secretEnc).replace(/^whsec_/, ''),
              'base64',
            ),
          ),
        }
      : null;
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(code, { value, at: Date.now() });
    return value;
  }
}

/** The active material codes, refreshed every `ttlMs` (administrators may add codes). */
export class MaterialCache {
  private value: ReadonlySet<string> | null = null;
  private at = 0;

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 30_000,
  ) {}

  async get(): Promise<ReadonlySet<string>> {
    if (!this.value || Date.now() - this.at > this.ttlMs) {
      this.value = new Set(await listActiveMaterialCodes(this.db));
      this.at = Date.now();
    }
    return this.value;
  }
}
