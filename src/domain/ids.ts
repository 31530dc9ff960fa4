/**
 * Identifier validation (DOMAIN.md section 3): USCC, resident id numbers, administrative divisions,
 * vehicle plates, invoice numbers, and the masks used to show personal identifiers.
 *
 * All checks are case-sensitive on purpose: an identifier has exactly one accepted spelling, so it
 * has exactly one blind-index key. Platforms must send USCCs and the resident-id check character
 * `X` in upper case; a lower-case `x` is rejected (with a message saying so), never silently fixed.
 */

// ---------------------------------------------------------------------------------------------
// USCC — 统一社会信用代码, GB 32100-2015
// ---------------------------------------------------------------------------------------------

/** The 31 characters of GB 32100 (no I, O, S, V, Z); a character's value is its index. */
export const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28] as const;
const USCC_BODY_RE = /^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{9}$/;

/**
 * The check character for the first 17 characters of a USCC, or null when those are not 17
 * characters of the alphabet with a 6-digit division code at positions 3–8.
 */
export function usccCheckChar(first17: string): string | null {
  if (!USCC_BODY_RE.test(first17)) return null;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += USCC_ALPHABET.indexOf(first17[i]!) * USCC_WEIGHTS[i]!;
  return USCC_ALPHABET[(31 - (sum % 31)) % 31]!;
}

/**
 * A valid USCC: 18 upper-case characters of the GB 32100 alphabet, positions 3–8 digits (the
 * registering division), check character correct. The division is not checked against the
 * province list: registrations by province-level authorities legitimately carry codes like 440000.
 */
export function isValidUscc(s: string): boolean {
  return s.length === 18 && usccCheckChar(s.slice(0, 17)) === s[17];
}

/** Appends the check character; throws RangeError when `first17` cannot start a USCC. */
export function makeUscc(first17: string): string {
  const c = usccCheckChar(first17);
  if (c === null)
    throw new RangeError(`makeUscc: not 17 USCC characters with a 6-digit division: ${first17}`);
  return first17 + c;
}

// ---------------------------------------------------------------------------------------------
// Resident identity card number — 居民身份证号码, GB 11643-1999
// ---------------------------------------------------------------------------------------------

const RESIDENT_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const RESIDENT_CHECK = '10X98765432';

/** The check character (0-9 or upper-case X) for 17 digits, or null when they are not 17 digits. */
export function residentIdCheckChar(first17: string): string | null {
  if (!/^\d{17}$/.test(first17)) return null;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * RESIDENT_WEIGHTS[i]!;
  return RESIDENT_CHECK[sum % 11]!;
}

/** True when `yyyymmdd` is a real Gregorian date with year ≥ 1900 (no comparison with today). */
export function isRealBirthDate(yyyymmdd: string): boolean {
  if (!/^\d{8}$/.test(yyyymmdd)) return false;
  const y = Number(yyyymmdd.slice(0, 4));
  const m = Number(yyyymmdd.slice(4, 6));
  const d = Number(yyyymmdd.slice(6, 8));
  return y >= 1900 && m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * A valid 18-character resident id number: 17 digits, check character (upper-case X only), and
 * digits 7–14 a real birth date from 1900 on. The address prefix (digits 1–6) is not checked
 * against the province list: old numbers keep abolished codes, and residence permits for Hong Kong,
 * Macao and Taiwan residents use 810000/820000/830000.
 */
export function isValidResidentId(s: string): boolean {
  return s.length === 18 && residentIdCheckChar(s.slice(0, 17)) === s[17] && isRealBirthDate(s.slice(6, 14));
}

/** The address division (first 6 digits) of a resident id number. */
export function residentIdDivision(id: string): string {
  return id.slice(0, 6);
}

/** Appends the check character; throws RangeError unless the result is a valid id (real birth date). */
export function makeResidentId(first17: string): string {
  const c = residentIdCheckChar(first17);
  const id = first17 + (c ?? '');
  if (c === null || !isValidResidentId(id)) {
    throw new RangeError(`makeResidentId: not 17 digits with a real birth date: ${first17}`);
  }
  return id;
}

// ---------------------------------------------------------------------------------------------
// Administrative divisions — 行政区划代码 (GB/T 2260)
// ---------------------------------------------------------------------------------------------

/** Two-digit province-level codes (mainland provinces, Taiwan 71, Hong Kong 81, Macao 82). */
export const PROVINCE_CODES: ReadonlySet<string> = new Set([
  ...['11', '12', '13', '14', '15', '21', '22', '23'],
  ...['31', '32', '33', '34', '35', '36', '37'],
  ...['41', '42', '43', '44', '45', '46', '50', '51', '52', '53', '54'],
  ...['61', '62', '63', '64', '65', '71', '81', '82'],
]);

/**
 * A division a party or site can sit in: 6 digits, a real province prefix, and not a province as a
 * whole (last 4 digits not all zero). Prefecture codes (440700) and county codes (440703) pass.
 */
export function isValidDivision(code: string): boolean {
  return /^\d{6}$/.test(code) && PROVINCE_CODES.has(code.slice(0, 2)) && !code.endsWith('0000');
}

export interface Division {
  readonly code: string;
  readonly name_zh: string;
  readonly name_en: string;
}

/** 江门市 and its seven county-level divisions. */
export const JIANGMEN_DIVISIONS: readonly Division[] = [
  { code: '440700', name_zh: '江门市', name_en: 'Jiangmen' },
  { code: '440703', name_zh: '蓬江区', name_en: 'Pengjiang District' },
  { code: '440704', name_zh: '江海区', name_en: 'Jianghai District' },
  { code: '440705', name_zh: '新会区', name_en: 'Xinhui District' },
  { code: '440781', name_zh: '台山市', name_en: 'Taishan' },
  { code: '440783', name_zh: '开平市', name_en: 'Kaiping' },
  { code: '440784', name_zh: '鹤山市', name_en: 'Heshan' },
  { code: '440785', name_zh: '恩平市', name_en: 'Enping' },
];

/**
 * Whether an officer holding `officerDivision` may see something located in `division`: a code
 * ending in 0000 covers its province, one ending in 00 its prefecture (440700 covers every 4407xx),
 * any other code only itself. Malformed codes cover nothing.
 */
export function divisionCovers(officerDivision: string, division: string): boolean {
  if (!/^\d{6}$/.test(officerDivision) || !/^\d{6}$/.test(division)) return false;
  if (officerDivision.endsWith('0000')) return division.startsWith(officerDivision.slice(0, 2));
  if (officerDivision.endsWith('00')) return division.startsWith(officerDivision.slice(0, 4));
  return division === officerDivision;
}

// ---------------------------------------------------------------------------------------------
// Vehicle plates (GA 36)
// ---------------------------------------------------------------------------------------------

export const PLATE_PROVINCES = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼';
// Province character, issuing-authority letter (no I, O), then 5 (regular) or 6 (new-energy)
// characters of [A-HJ-NP-Z0-9], or 4 followed by 挂 (trailer), 学 (driving school), 警, 港, 澳.
const PLATE_RE = new RegExp(
  `^[${PLATE_PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[挂学警港澳])$`,
);

/** A Chinese civil vehicle plate written without separators: `粤J12345`, `粤JD12345`, `粤J1234挂`. */
export function isValidPlate(s: string): boolean {
  return PLATE_RE.test(s);
}

// ---------------------------------------------------------------------------------------------
// Invoice numbers
// ---------------------------------------------------------------------------------------------

/**
 * A parsed invoice number: a fully digitalised e-invoice (数电发票) has one 20-digit number; a
 * legacy invoice a 10- or 12-digit code plus an 8-digit number.
 */
export type InvoiceNumber =
  | { readonly scheme: 'digital'; readonly number: string }
  | { readonly scheme: 'legacy'; readonly code: string; readonly number: string };

const DIGITAL_INVOICE_RE = /^\d{20}$/;
const LEGACY_CODE_RE = /^(?:\d{10}|\d{12})$/;
const LEGACY_NUMBER_RE = /^\d{8}$/;
const LEGACY_JOINED_RE = /^(\d{10}|\d{12})-(\d{8})$/;

/** Pattern of a wire `invoice_no`: 20 digits, or legacy `<code>-<number>`. */
export const INVOICE_NO_PATTERN = '^(\\d{20}|(\\d{10}|\\d{12})-\\d{8})$';
export const LEGACY_INVOICE_CODE_PATTERN = '^(\\d{10}|\\d{12})$';
export const LEGACY_INVOICE_NUMBER_PATTERN = '^\\d{8}$';

/**
 * Parses an invoice number written as one string (`"26442000000012345678"` or
 * `"4400231130-01234567"`) or as separate legacy fields `{ code, number }`.
 */
export function parseInvoiceNumber(input: string | { code: string; number: string }): InvoiceNumber | null {
  if (typeof input === 'string') {
    if (DIGITAL_INVOICE_RE.test(input)) return { scheme: 'digital', number: input };
    const m = LEGACY_JOINED_RE.exec(input);
    return m ? { scheme: 'legacy', code: m[1]!, number: m[2]! } : null;
  }
  if (LEGACY_CODE_RE.test(input.code) && LEGACY_NUMBER_RE.test(input.number)) {
    return { scheme: 'legacy', code: input.code, number: input.number };
  }
  return null;
}

/** The canonical key of an invoice: the 20 digits as they are, or `"<code>-<number>"` for legacy. */
export function invoiceKey(inv: InvoiceNumber): string {
  return inv.scheme === 'digital' ? inv.number : `${inv.code}-${inv.number}`;
}

/** Canonical key of an invoice number given in any accepted form, or null if it is not one. */
export function canonicalInvoiceNo(input: string | { code: string; number: string }): string | null {
  const inv = parseInvoiceNumber(input);
  return inv ? invoiceKey(inv) : null;
}

// ---------------------------------------------------------------------------------------------
// Masks for personal identifiers (DOMAIN.md section 8)
// ---------------------------------------------------------------------------------------------

/**
 * `440703199001011234` → `440703********1234`: the address division and the last 4 stay, the
 * birth date and order code are hidden. Anything that is not 18 characters keeps only its last 4
 * (and at most as many stars as it hides), so a malformed value never leaks more.
 */
export function maskResidentId(id: string): string {
  if (id.length === 18) return id.slice(0, 6) + '********' + id.slice(14);
  if (id.length <= 4) return '*'.repeat(id.length);
  return '*'.repeat(id.length - 4) + id.slice(-4);
}

/**
 * `6222020200001234010` → `6222 **** **** 4010`. Spaces and hyphens are dropped first. The middle
 * is always `**** ****`, whatever its length, so the mask does not reveal the number's length.
 * Numbers shorter than 12 characters keep only their last 4 (`**** 1234`), since showing 8 of
 * them would reveal most of the number; 4 characters or fewer become `****`.
 */
export function maskAccountNo(accountNo: string): string {
  const s = accountNo.replace(/[\s-]/g, '');
  if (s.length <= 4) return '****';
  if (s.length < 12) return '**** ' + s.slice(-4);
  return `${s.slice(0, 4)} **** **** ${s.slice(-4)}`;
}
