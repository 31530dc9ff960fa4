import type { findParty } from '../../../repositories/parties-query.repository';

/** A party as findParty reads it. */
export type SheetPartyRow = NonNullable<Awaited<ReturnType<typeof findParty>>>;

/** The party as the reference sheet names it (its kind decides the withholding basis). */
export function sheetParty(p: SheetPartyRow): {
  key: string;
  kind: 'enterprise' | 'natural_person';
  name: string;
  division: string;
} {
  return {
    key: p.party_key,
    kind: p.kind === 'natural_person' ? 'natural_person' : 'enterprise',
    name: p.name,
    division: p.division,
  };
}
