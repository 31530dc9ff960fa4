/**
 * Tolerant matching of documents that name no trade (a payment or an invoice with empty
 * trade_ids) to candidate trades. Deterministic on the SET of documents and trades: documents
 * are taken in (time, id) order; each takes its best free candidate by (amount difference, time
 * difference, trade key); when the best two tie, the candidate set is recorded as ambiguous and
 * nothing is linked.
 */
export interface MatchDocument {
  id: string;
  atMs: number;
  amountFen: bigint;
}

export interface MatchCandidate {
  key: string;
  atMs: number;
  amountFen: bigint;
}

export type MatchOutcome =
  | { document: string; kind: 'linked'; trade: string }
  | { document: string; kind: 'ambiguous'; candidates: string[] }
  | { document: string; kind: 'unmatched' };

export function matchDocuments(
  documents: readonly MatchDocument[],
  candidatesOf: (doc: MatchDocument) => readonly MatchCandidate[],
): MatchOutcome[] {
  const docs = [...documents].sort((a, b) => a.atMs - b.atMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const taken = new Set<string>();
  const out: MatchOutcome[] = [];
  for (const doc of docs) {
    const scored = candidatesOf(doc)
      .filter((c) => !taken.has(c.key))
      .map((c) => ({
        c,
        amount: abs(c.amountFen - doc.amountFen),
        time: Math.abs(c.atMs - doc.atMs),
      }))
      .sort((a, b) =>
        a.amount !== b.amount
          ? a.amount < b.amount
            ? -1
            : 1
          : a.time - b.time || (a.c.key < b.c.key ? -1 : 1),
      );
    const [best, second] = scored;
    if (!best) {
      out.push({ document: doc.id, kind: 'unmatched' });
      continue;
    }
    if (second && second.amount === best.amount && second.time === best.time) {
      out.push({
        document: doc.id,
        kind: 'ambiguous',
        candidates: scored
          .filter((s) => s.amount === best.amount && s.time === best.time)
          .map((s) => s.c.key),
      });
      continue;
    }
    taken.add(best.c.key);
    out.push({ document: doc.id, kind: 'linked', trade: best.c.key });
  }
  return out;
}

function abs(a: bigint): bigint {
  return a < 0n ? -a : a;
}
