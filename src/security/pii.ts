import { maskAccountNo, maskResidentId } from '../domain/ids';
import type { Keyring } from './keys';

/**
 * Personal data (DOMAIN.md section 8, PIPL): natural persons' id numbers and bank account
 * numbers are stored encrypted (AES-256-GCM), found by a blind index (HMAC-SHA256), shown masked
 * unless the officer's token has `pii`, and every unmasking is audited.
 *
 * Keys (all HKDF-derived from RETRACE_MASTER_KEY, one per purpose):
 * - 'pii-encryption'  — the ciphertexts;
 * - 'pii-blind-index' — exact-match lookups (`bidx` columns);
 * - 'person-key'      — the opaque party key handed out for natural persons, kept apart from the
 *   blind index so that a key seen in the API cannot be matched against the `bidx` columns.
 */

export const maskId = maskResidentId;
export const maskAccount = maskAccountNo;

/** `np_` + 32 base32 characters (160 bits of HMAC): the API's key for a natural person. */
export const PERSON_KEY_PATTERN = /^np_[a-z2-7]{32}$/;

export function isPersonKey(s: string): boolean {
  return PERSON_KEY_PATTERN.test(s);
}

/** Account numbers are compared without the spaces and hyphens people write them with. */
export function normalizeAccountNo(accountNo: string): string {
  return accountNo.replace(/[\s-]/g, '');
}

export interface Sealed {
  /** AES-256-GCM ciphertext (Keyring format: version | IV | tag | ciphertext). */
  enc: Buffer;
  /** HMAC-SHA256 blind index of the exact plaintext, for equality lookups. */
  bidx: Buffer;
}

export class PiiVault {
  constructor(private readonly keyring: Keyring) {}

  /** Encrypts `value` and computes its blind index. */
  seal(value: string): Sealed {
    return { enc: this.keyring.encrypt('pii-encryption', value), bidx: this.blindIndex(value) };
  }

  /** `seal` of a normalised account number (spaces and hyphens removed). */
  sealAccountNo(accountNo: string): Sealed {
    return this.seal(normalizeAccountNo(accountNo));
  }

  /** Decrypts a value sealed by `seal`; throws when it was tampered with or sealed under another key. */
  open(enc: Buffer): string {
    return this.keyring.decrypt('pii-encryption', enc);
  }

  blindIndex(value: string): Buffer {
    return this.keyring.blindIndex(value, 'pii-blind-index');
  }

  /**
   * The stable, opaque key of a natural person: the same id number always gives the same key,
   * and the key reveals nothing of the id number without the master key.
   */
  personKey(idNumber: string): string {
    // One definition for the whole system: processing names persons with the same key.
    return this.keyring.personKey(idNumber);
  }

  /**
   * A presenter for one response: shows values masked unless `pii` is true, and remembers whether
   * it unmasked anything (`unmasked`), which the route must hand to the audit
   * (`addAuditSubjects(c, { piiUnmasked: presenter.unmasked })`, or use `piiPresenter(c, vault)`
   * from src/http/auth.ts, which does it by itself through `onUnmask`).
   */
  presenter(pii: boolean, onUnmask?: () => void): PiiPresenter {
    return new PiiPresenter(this, pii, onUnmask);
  }
}

export class PiiPresenter {
  private shown = false;

  constructor(
    private readonly vault: PiiVault,
    readonly pii: boolean,
    private readonly onUnmask?: () => void,
  ) {}

  /** True once any value was shown unmasked. */
  get unmasked(): boolean {
    return this.shown;
  }

  private reveal(value: string): string {
    if (!this.shown) {
      this.shown = true;
      this.onUnmask?.();
    }
    return value;
  }

  /** A resident id number, masked (`440703********123X`) unless the token has `pii`. */
  idNumber(plain: string): string;
  idNumber(plain: string | null | undefined): string | null;
  idNumber(plain: string | null | undefined): string | null {
    if (plain === null || plain === undefined) return null;
    return this.pii ? this.reveal(plain) : maskId(plain);
  }

  /** A bank account number, masked (`6222 **** **** 0101`) unless the token has `pii`. */
  accountNo(plain: string): string;
  accountNo(plain: string | null | undefined): string | null;
  accountNo(plain: string | null | undefined): string | null {
    if (plain === null || plain === undefined) return null;
    return this.pii ? this.reveal(plain) : maskAccount(plain);
  }

  /** `idNumber` of a sealed value. */
  sealedIdNumber(enc: Buffer | null | undefined): string | null {
    return enc ? this.idNumber(this.vault.open(enc)) : null;
  }

  /** `accountNo` of a sealed value. */
  sealedAccountNo(enc: Buffer | null | undefined): string | null {
    return enc ? this.accountNo(this.vault.open(enc)) : null;
  }
}

/**
 * One value for a response: the masked form unless `pii`; `unmasked` tells whether the clear value
 * was returned, which must reach the audit entry's `pii_unmasked`.
 */
export function present(
  value: string,
  pii: boolean,
  kind: 'id_number' | 'account_no' = 'id_number',
): { value: string; unmasked: boolean } {
  if (pii) return { value, unmasked: true };
  return { value: kind === 'id_number' ? maskId(value) : maskAccount(value), unmasked: false };
}
