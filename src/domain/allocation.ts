/**
 * Allocation of one (party, material) stream: which of party P's purchases of material M each of
 * P's sales of M comes from (DOMAIN.md section 6, CONTRACT.md section 2 "Chains").
 *
 * Pure and deterministic; quantities are bigint grams, times are `occurred_at` epoch milliseconds.
 *
 * The decision, step by step:
 * - Total order. Entries (purchases and sales alike) are ordered by (atMs, platform, tradeId),
 *   strings compared by UTF-16 code units (`<`), never by a locale or a database collation.
 *   "Before" always means strictly before in this order, so ties in time are broken by
 *   (platform, trade id) and a trade is never before itself.
 * - Sales are processed in the total order. For each sale:
 *   1. Declared claims (`upstream`). Claims naming the same purchase are merged (grams summed), then
 *      taken in the total order of the purchases they name (oldest first, like FIFO); claims naming
 *      no purchase of P's stream come last, by (platform, trade id). The order in which a record
 *      lists its claims therefore never matters. Each claim is granted
 *      min(claimed, what is left of the purchase, what is left of the sale):
 *      - `not_a_purchase`: the ref is not one of P's purchases of M → granted 0;
 *      - `later_purchase`: the purchase is not strictly before the sale → granted 0;
 *      - `exceeds_remaining`: a valid claim capped by what is left — of the purchase, or of the sale
 *        itself when the claims add up to more than the sale.
 *      An invalid ref is reported even when it claims 0 g; a valid claim only when it is capped.
 *   2. FIFO. The rest of the sale takes the oldest remaining stock, in the same total order, from
 *      purchases strictly before the sale only.
 *   3. Whatever is still uncovered is unsourced.
 *   A purchase is consumed across sales; zero-gram allocations are never emitted.
 * - The result is a function of the SET of entries: input arrays are sorted first, and a ref that
 *   occurs twice among the purchases (or twice among the sales) is rejected, since one trade is one
 *   entry (the caller sums lines of the same material in a trade). A trade may be both a purchase
 *   and a sale of P (P trading with itself); it can then never supply itself.
 * - Output order: allocations, unsourced and discrepancies in processing order (sales in total
 *   order; within a sale, claims then FIFO); `remaining` lists every purchase in total order,
 *   including exhausted ones (0 g).
 *
 * Incremental re-allocation: a sale only ever draws from purchases strictly before it, so the
 * allocations of sales before a cut depend only on entries before the cut. `openingStateAt` turns
 * the stored allocations of the sales before a cut into the remainders of the purchases before it;
 * `allocateStream(purchases, sales, opening)` then allocates the sales at or after the cut and
 * yields exactly what a full run would for them (property-tested). The cut is an entry key; to
 * re-allocate "from time T", use `{ atMs: T, ref: { platform: '', tradeId: '' } }`, which sorts
 * before every entry at T.
 */

/** The natural key of a trade. */
export interface TradeRef {
  platform: string;
  tradeId: string;
}

/** One trade in a (party, material) stream. `quantityG` is the trade's quantity of the material. */
export interface StreamEntry {
  ref: TradeRef;
  /** `occurred_at`, epoch milliseconds. */
  atMs: number;
  quantityG: bigint;
}

/** A sale with its declared provenance (`upstream` claims). */
export interface Sale extends StreamEntry {
  claims: readonly { upstream: TradeRef; quantityG: bigint }[];
}

export interface Allocation {
  sale: TradeRef;
  purchase: TradeRef;
  quantityG: bigint;
  basis: 'declared' | 'fifo';
}

export type ClaimDiscrepancyReason = 'not_a_purchase' | 'later_purchase' | 'exceeds_remaining';

export interface ClaimDiscrepancy {
  sale: TradeRef;
  upstream: TradeRef;
  claimedG: bigint;
  grantedG: bigint;
  reason: ClaimDiscrepancyReason;
}

export interface StreamResult {
  allocations: Allocation[];
  /** Sales with a positive unsourced part only. */
  unsourced: { sale: TradeRef; quantityG: bigint }[];
  discrepancies: ClaimDiscrepancy[];
  /** Every purchase, in total order, with the grams no sale has taken. */
  remaining: { purchase: TradeRef; quantityG: bigint }[];
}

/** A position in the total order: an entry's key, or a point between entries. */
export interface EntryKey {
  ref: TradeRef;
  atMs: number;
}

/**
 * Where an incremental run starts: sales at or after `cut` are allocated; purchases strictly before
 * it start from `remainingG` (grams, by `refKey`, one per purchase before the cut), purchases at or
 * after it start full.
 */
export interface OpeningState {
  cut: EntryKey;
  remainingG: ReadonlyMap<string, bigint>;
}

/** Thrown for input that breaks the stream's preconditions (duplicate refs, negative grams…). */
export class StreamInputError extends Error {
  override name = 'StreamInputError';
}

/** `${platform}:${tradeId}` — the map key of a trade (platform codes contain no ':'). */
export function refKey(ref: TradeRef): string {
  return `${ref.platform}:${ref.tradeId}`;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders trade refs by (platform, tradeId). */
export function compareRefs(a: TradeRef, b: TradeRef): number {
  return compareStrings(a.platform, b.platform) || compareStrings(a.tradeId, b.tradeId);
}

/** The stream's total order: (atMs, platform, tradeId). */
export function compareEntries(a: EntryKey, b: EntryKey): number {
  if (a.atMs !== b.atMs) return a.atMs < b.atMs ? -1 : 1;
  return compareRefs(a.ref, b.ref);
}

function checkTime(atMs: number, what: string): void {
  if (!Number.isSafeInteger(atMs))
    throw new StreamInputError(`${what}: atMs must be an integer, got ${atMs}`);
}

function checkGrams(g: bigint, what: string): void {
  if (typeof g !== 'bigint' || g < 0n) throw new StreamInputError(`${what}: grams must be a bigint ≥ 0`);
}

/** Sorts entries into the total order and rejects duplicate refs and malformed values. */
function sortEntries<T extends StreamEntry>(entries: readonly T[], what: string): T[] {
  const seen = new Set<string>();
  for (const e of entries) {
    const key = refKey(e.ref);
    if (seen.has(key)) throw new StreamInputError(`duplicate ${what} ${key}`);
    seen.add(key);
    checkTime(e.atMs, `${what} ${key}`);
    checkGrams(e.quantityG, `${what} ${key}`);
  }
  return [...entries].sort(compareEntries);
}

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

interface NormalisedClaim {
  upstream: TradeRef;
  claimedG: bigint;
  /** Index of the named purchase in total order, or undefined when it names none. */
  index: number | undefined;
}

function normaliseClaims(sale: Sale, indexOf: ReadonlyMap<string, number>): NormalisedClaim[] {
  const byKey = new Map<string, NormalisedClaim>();
  for (const c of sale.claims) {
    const key = refKey(c.upstream);
    checkGrams(c.quantityG, `claim of sale ${refKey(sale.ref)} on ${key}`);
    const prior = byKey.get(key);
    if (prior) prior.claimedG += c.quantityG;
    else byKey.set(key, { upstream: c.upstream, claimedG: c.quantityG, index: indexOf.get(key) });
  }
  return [...byKey.values()].sort((a, b) => {
    if (a.index !== undefined && b.index !== undefined) return a.index - b.index;
    if (a.index !== undefined) return -1;
    if (b.index !== undefined) return 1;
    return compareRefs(a.upstream, b.upstream);
  });
}

/**
 * Allocates a party's sales of one material to its purchases of that material: declared claims
 * first, then FIFO; see the file header. With `opening`, only sales at or after `opening.cut` are
 * allocated, starting from the given remainders.
 */
export function allocateStream(
  purchases: readonly StreamEntry[],
  sales: readonly Sale[],
  opening?: OpeningState,
): StreamResult {
  const ps = sortEntries(purchases, 'purchase');
  const ss = sortEntries(sales, 'sale');
  const n = ps.length;
  const indexOf = new Map(ps.map((p, i) => [refKey(p.ref), i]));

  const left = ps.map((p) => p.quantityG);
  if (opening) {
    checkTime(opening.cut.atMs, 'cut');
    for (const [key, g] of opening.remainingG) {
      const i = indexOf.get(key);
      if (i === undefined) throw new StreamInputError(`opening state names unknown purchase ${key}`);
      const p = ps[i]!;
      if (compareEntries(p, opening.cut) >= 0) {
        throw new StreamInputError(`opening state names purchase ${key}, which is not before the cut`);
      }
      checkGrams(g, `opening remainder of ${key}`);
      if (g > p.quantityG) throw new StreamInputError(`opening remainder of ${key} exceeds its quantity`);
      left[i] = g;
    }
    for (let i = 0; i < n && compareEntries(ps[i]!, opening.cut) < 0; i++) {
      const key = refKey(ps[i]!.ref);
      if (!opening.remainingG.has(key)) throw new StreamInputError(`opening state lacks purchase ${key}`);
    }
  }

  // next[i]: a path-compressed pointer towards the first purchase ≥ i with grams left (n if none),
  // so FIFO skips purchases emptied by claims without rescanning them.
  const next = Array.from({ length: n + 1 }, (_, i) => (i < n && left[i] === 0n ? i + 1 : i));
  const find = (i: number): number => {
    let root = i;
    while (next[root] !== root) root = next[root]!;
    let j = i;
    while (next[j] !== root) {
      const k = next[j]!;
      next[j] = root;
      j = k;
    }
    return root;
  };
  const take = (i: number, g: bigint): void => {
    const rest = left[i]! - g;
    left[i] = rest;
    if (rest === 0n) next[i] = i + 1;
  };

  const result: StreamResult = { allocations: [], unsourced: [], discrepancies: [], remaining: [] };
  let eligible = 0; // ps[0 .. eligible) are strictly before the current sale
  for (const sale of ss) {
    if (opening && compareEntries(sale, opening.cut) < 0) continue;
    while (eligible < n && compareEntries(ps[eligible]!, sale) < 0) eligible++;
    let need = sale.quantityG;

    for (const claim of normaliseClaims(sale, indexOf)) {
      const { upstream, claimedG, index } = claim;
      let reason: ClaimDiscrepancyReason | undefined;
      let granted = 0n;
      if (index === undefined) reason = 'not_a_purchase';
      else if (index >= eligible) reason = 'later_purchase';
      else {
        granted = min(claimedG, min(left[index]!, need));
        if (granted > 0n) {
          take(index, granted);
          need -= granted;
          result.allocations.push({
            sale: sale.ref,
            purchase: upstream,
            quantityG: granted,
            basis: 'declared',
          });
        }
        if (granted < claimedG) reason = 'exceeds_remaining';
      }
      if (reason) {
        result.discrepancies.push({ sale: sale.ref, upstream, claimedG, grantedG: granted, reason });
      }
    }

    for (let i = find(0); need > 0n && i < eligible; i = find(i)) {
      const g = min(left[i]!, need);
      take(i, g);
      need -= g;
      result.allocations.push({ sale: sale.ref, purchase: ps[i]!.ref, quantityG: g, basis: 'fifo' });
    }

    if (need > 0n) result.unsourced.push({ sale: sale.ref, quantityG: need });
  }

  result.remaining = ps.map((p, i) => ({ purchase: p.ref, quantityG: left[i]! }));
  return result;
}

/**
 * The opening state at `cut`, from the stored allocations of the sales strictly before the cut
 * (and only those: an allocation does not carry its sale's time, so the caller filters). Each
 * purchase before the cut starts from its quantity minus what those allocations took from it.
 * Allocations on a purchase that is unknown or not before the cut, or that take more than a
 * purchase holds, mean the stored allocations no longer fit the data: the cut must move earlier.
 */
export function openingStateAt(
  purchases: readonly StreamEntry[],
  prior: { readonly allocations: readonly Pick<Allocation, 'purchase' | 'quantityG'>[] },
  cut: EntryKey,
): OpeningState {
  checkTime(cut.atMs, 'cut');
  const ps = sortEntries(purchases, 'purchase');
  const remainingG = new Map<string, bigint>();
  for (const p of ps) {
    if (compareEntries(p, cut) >= 0) break;
    remainingG.set(refKey(p.ref), p.quantityG);
  }
  for (const a of prior.allocations) {
    const key = refKey(a.purchase);
    const left = remainingG.get(key);
    if (left === undefined) {
      throw new StreamInputError(`allocation from ${key}, which is not a purchase before the cut`);
    }
    checkGrams(a.quantityG, `allocation from ${key}`);
    if (a.quantityG > left) throw new StreamInputError(`allocations from ${key} exceed its quantity`);
    remainingG.set(key, left - a.quantityG);
  }
  return { cut: { atMs: cut.atMs, ref: { ...cut.ref } }, remainingG };
}
