/**
 * Origins of a trade line: its quantity split into what natural persons sold, what enterprises
 * that generate scrap themselves sold, and what no purchase covers (unsourced), traced through the
 * chain by proportional mass balance (CONTRACT.md section 3, `origins`; DOMAIN.md sections 2, 6).
 *
 * Pure and deterministic; grams are bigint. The graph comes from an accessor, so the caller decides
 * how nodes are loaded (one material's trade lines, with the allocations into each sale).
 *
 * Rules and decisions:
 * - A trade sold by a natural person is 100% natural_person; by a generator enterprise (role
 *   `generator`, or any enterprise not registered as recycler/sorting centre) 100% enterprise —
 *   whatever its own supplies.
 * - A trade sold by a trading enterprise (recycler, sorting centre) has the composition
 *   Σ supply × composition(supplying purchase) + unsourced, divided by T = Σ supplies + unsourcedG.
 *   T, not the node's quantity, is the denominator, so a node whose parts do not add up to its
 *   quantity still yields a composition that sums to 1. T = 0 means nothing covers it: unsourced.
 * - Compositions are exact rationals (three bigint numerators over a common bigint denominator,
 *   reduced by their gcd). Only the root's grams are rounded: each part is floored, and the
 *   0–2 grams left over go one each to the parts with the largest remainders, ties in the fixed
 *   order natural_person, enterprise, unsourced (largest-remainder apportionment). The three parts
 *   therefore sum exactly to the root's quantity.
 * - Supplies naming the same purchase are merged and visited by (platform, trade id), so the
 *   accessor's row order never matters. A supplying purchase the accessor does not know counts as
 *   unsourced.
 * - Cycles: allocation only draws from strictly earlier purchases, so real data is acyclic; as a
 *   guard against inconsistent data, a supply edge to a trade already on the current path counts as
 *   unsourced. Compositions are memoised per (trade, depth budget left), so each trade is expanded
 *   at most once per budget and shared sub-chains cost nothing extra.
 * - Depth: the root is depth 0, its supplying purchases depth 1, and so on (the chain endpoint's
 *   `depth`). A trading node at depth maxDepth cannot look at its supplies: that part counts as
 *   unsourced and the result says `truncated: true`. Without maxDepth the trace is unbounded
 *   (iterative, so long chains cannot overflow the stack).
 */
import { compareRefs, refKey, type TradeRef } from './allocation';

/**
 * `trading_enterprise`: an enterprise registered as recycler or sorting_center;
 * `generator_enterprise`: role generator, or any enterprise not registered as recycler/sorting_center.
 */
export type SellerKind = 'natural_person' | 'generator_enterprise' | 'trading_enterprise';

export interface OriginNode {
  ref: TradeRef;
  /** The trade line's quantity of the material, grams. */
  quantityG: bigint;
  sellerKind: SellerKind;
  /** Allocations into this sale (declared and FIFO may name the same purchase; they are summed). */
  supplies: readonly { purchase: TradeRef; quantityG: bigint }[];
  /** The sale's unsourced part, grams. */
  unsourcedG: bigint;
}

export interface Origins {
  naturalPersonG: bigint;
  enterpriseG: bigint;
  unsourcedG: bigint;
}

/** Shares np/den, ent/den, uns/den with np + ent + uns = den > 0. */
interface Composition {
  np: bigint;
  ent: bigint;
  uns: bigint;
  den: bigint;
}

const NATURAL: Composition = { np: 1n, ent: 0n, uns: 0n, den: 1n };
const ENTERPRISE: Composition = { np: 0n, ent: 1n, uns: 0n, den: 1n };
const UNSOURCED: Composition = { np: 0n, ent: 0n, uns: 1n, den: 1n };

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

function checkGrams(g: bigint, what: string): void {
  if (typeof g !== 'bigint' || g < 0n) throw new RangeError(`${what}: grams must be a bigint ≥ 0`);
}

/** Σ q × composition + unsourcedG, normalised by their total. */
function combine(parts: readonly (readonly [bigint, Composition])[], unsourcedG: bigint): Composition {
  let total = unsourcedG;
  let lcm = 1n;
  for (const [q, c] of parts) {
    total += q;
    lcm = (lcm / gcd(lcm, c.den)) * c.den;
  }
  if (total === 0n) return UNSOURCED;
  let np = 0n;
  let ent = 0n;
  let uns = unsourcedG * lcm;
  for (const [q, c] of parts) {
    const f = q * (lcm / c.den);
    np += f * c.np;
    ent += f * c.ent;
    uns += f * c.uns;
  }
  const den = total * lcm;
  const g = gcd(gcd(np, ent), gcd(uns, den));
  return { np: np / g, ent: ent / g, uns: uns / g, den: den / g };
}

/** Whole grams of `quantityG` × composition, by largest remainder; the parts sum to quantityG. */
function apportion(quantityG: bigint, c: Composition): Origins {
  const exact = [c.np, c.ent, c.uns].map((share, order) => {
    const scaled = quantityG * share;
    return { order, grams: scaled / c.den, remainder: scaled % c.den };
  });
  let leftover = quantityG - exact.reduce((sum, p) => sum + p.grams, 0n);
  const byRemainder = [...exact].sort((a, b) =>
    a.remainder !== b.remainder ? (a.remainder > b.remainder ? -1 : 1) : a.order - b.order,
  );
  for (const p of byRemainder) {
    if (leftover === 0n) break;
    p.grams += 1n;
    leftover -= 1n;
  }
  const [np, ent, uns] = exact;
  return { naturalPersonG: np!.grams, enterpriseG: ent!.grams, unsourcedG: uns!.grams };
}

interface Supply {
  key: string;
  ref: TradeRef;
  quantityG: bigint;
}

function mergedSupplies(node: OriginNode): Supply[] {
  const byKey = new Map<string, Supply>();
  for (const s of node.supplies) {
    const key = refKey(s.purchase);
    checkGrams(s.quantityG, `supply ${key} into ${refKey(node.ref)}`);
    const prior = byKey.get(key);
    if (prior) prior.quantityG += s.quantityG;
    else byKey.set(key, { key, ref: s.purchase, quantityG: s.quantityG });
  }
  return [...byKey.values()].filter((s) => s.quantityG > 0n).sort((a, b) => compareRefs(a.ref, b.ref));
}

interface Frame {
  key: string;
  memoKey: string;
  node: OriginNode;
  depth: number;
  supplies: Supply[];
  next: number;
  parts: [bigint, Composition][];
}

/**
 * Splits the root trade's quantity into natural-person, enterprise and unsourced grams (exactly
 * summing to it). Throws when the accessor does not know the root.
 */
export function computeOrigins(
  root: TradeRef,
  get: (ref: TradeRef) => OriginNode | undefined,
  opts?: { maxDepth?: number },
): Origins & { truncated: boolean } {
  const maxDepth = opts?.maxDepth ?? Number.POSITIVE_INFINITY;
  if (!(maxDepth >= 0) || (Number.isFinite(maxDepth) && !Number.isInteger(maxDepth))) {
    throw new RangeError(`maxDepth must be a non-negative integer, got ${maxDepth}`);
  }
  const rootNode = get(root);
  if (!rootNode) throw new RangeError(`unknown trade ${refKey(root)}`);
  checkGrams(rootNode.quantityG, `trade ${refKey(root)}`);

  let truncated = false;
  const memo = new Map<string, Composition>();
  const onPath = new Set<string>();
  const memoKeyOf = (key: string, depth: number): string =>
    Number.isFinite(maxDepth) ? `${maxDepth - depth}|${key}` : key;
  const leaf = (node: OriginNode): Composition | undefined =>
    node.sellerKind === 'natural_person'
      ? NATURAL
      : node.sellerKind === 'generator_enterprise'
        ? ENTERPRISE
        : undefined;
  const frameOf = (key: string, node: OriginNode, depth: number): Frame => {
    checkGrams(node.unsourcedG, `unsourced part of ${key}`);
    onPath.add(key);
    return {
      key,
      memoKey: memoKeyOf(key, depth),
      node,
      depth,
      supplies: mergedSupplies(node),
      next: 0,
      parts: [],
    };
  };

  let composition = leaf(rootNode);
  if (!composition) {
    const stack: Frame[] = [frameOf(refKey(root), rootNode, 0)];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const supply = top.supplies[top.next];
      if (supply) {
        top.next += 1;
        const child = top.depth >= maxDepth || onPath.has(supply.key) ? undefined : get(supply.ref);
        if (top.depth >= maxDepth) truncated = true;
        const known = child ? (leaf(child) ?? memo.get(memoKeyOf(supply.key, top.depth + 1))) : UNSOURCED;
        if (known) top.parts.push([supply.quantityG, known]);
        else stack.push(frameOf(supply.key, child!, top.depth + 1));
        continue;
      }
      const done = combine(top.parts, top.node.unsourcedG);
      memo.set(top.memoKey, done);
      onPath.delete(top.key);
      stack.pop();
      const parent = stack[stack.length - 1];
      if (parent) parent.parts.push([parent.supplies[parent.next - 1]!.quantityG, done]);
      else composition = done;
    }
  }
  return { ...apportion(rootNode.quantityG, composition!), truncated };
}

function gramsToKg(g: bigint): string {
  const sign = g < 0n ? '-' : '';
  const abs = g < 0n ? -g : g;
  return `${sign}${abs / 1000n}.${(abs % 1000n).toString().padStart(3, '0')}`;
}

/** Wire form: kg decimal strings with 3 decimals (exact: grams / 1000). */
export function formatOrigins(o: Origins): {
  natural_person_kg: string;
  enterprise_kg: string;
  unsourced_kg: string;
} {
  return {
    natural_person_kg: gramsToKg(o.naturalPersonG),
    enterprise_kg: gramsToKg(o.enterpriseG),
    unsourced_kg: gramsToKg(o.unsourcedG),
  };
}
