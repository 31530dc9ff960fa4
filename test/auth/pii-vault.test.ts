import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Keyring } from '../../src/security/keys';
import { isPersonKey, maskAccount, maskId, PiiVault, present } from '../../src/security/pii';
import { residentId } from '../support/factories';

const vault = new PiiVault(new Keyring(randomBytes(32)));
const ID = '11010519491231002X';

describe('PiiVault', () => {
  it('seal/open round trip; ciphertexts differ, the blind index does not', () => {
    const a = vault.seal(ID);
    const b = vault.seal(ID);
    expect(vault.open(a.enc)).toBe(ID);
    expect(vault.open(b.enc)).toBe(ID);
    expect(a.enc.equals(b.enc)).toBe(false);
    expect(a.bidx.equals(b.bidx)).toBe(true);
    expect(a.bidx).toHaveLength(32);
    expect(a.enc.toString('latin1')).not.toContain(ID);
    expect(vault.seal(residentId()).bidx.equals(a.bidx)).toBe(false);
  });

  it('a tampered ciphertext or another master key does not open', () => {
    const { enc } = vault.seal(ID);
    const bad = Buffer.from(enc);
    bad[bad.length - 1]! ^= 1;
    expect(() => vault.open(bad)).toThrow();
    expect(() => new PiiVault(new Keyring(randomBytes(32))).open(enc)).toThrow();
  });

  it('account numbers are normalised before sealing', () => {
    const a = vault.sealAccountNo('6222 0202 0000 1234 010');
    const b = vault.sealAccountNo('6222-0202-0000-1234-010');
    expect(a.bidx.equals(b.bidx)).toBe(true);
    expect(vault.open(a.enc)).toBe('6222020200001234010');
  });

  it('person key: stable, opaque, and distinct from the blind index', () => {
    const key = vault.personKey(ID);
    expect(key).toBe(vault.personKey(ID));
    expect(isPersonKey(key)).toBe(true);
    expect(key.length).toBeGreaterThanOrEqual(20);
    expect(key).not.toContain(ID.slice(0, 6));
    expect(key).not.toContain(ID.slice(-4).toLowerCase());
    expect(key).not.toContain(vault.blindIndex(ID).toString('hex').slice(0, 8));
    expect(vault.personKey(residentId())).not.toBe(key);
    // Another deployment (master key) gives other keys: nothing to correlate across them.
    expect(new PiiVault(new Keyring(randomBytes(32))).personKey(ID)).not.toBe(key);
  });

  it('masks and presents', () => {
    expect(maskId(ID)).toBe('110105********002X');
    expect(maskAccount('6222020200000101')).toBe('6222 **** **** 0101');
    expect(present(ID, false)).toEqual({ value: '110105********002X', unmasked: false });
    expect(present(ID, true)).toEqual({ value: ID, unmasked: true });
    expect(present('6222020200000101', false, 'account_no').value).toBe('6222 **** **** 0101');
  });

  it('presenter masks without pii and flags unmasking once with pii', () => {
    const masked = vault.presenter(false);
    expect(masked.idNumber(ID)).toBe('110105********002X');
    expect(masked.sealedAccountNo(vault.sealAccountNo('6222020200000101').enc)).toBe('6222 **** **** 0101');
    expect(masked.idNumber(null)).toBeNull();
    expect(masked.unmasked).toBe(false);

    let calls = 0;
    const clear = vault.presenter(true, () => {
      calls += 1;
    });
    expect(clear.idNumber(null)).toBeNull();
    expect(clear.unmasked).toBe(false);
    expect(clear.sealedIdNumber(vault.seal(ID).enc)).toBe(ID);
    expect(clear.accountNo('6222020200000101')).toBe('6222020200000101');
    expect(clear.unmasked).toBe(true);
    expect(calls).toBe(1);
  });
});
