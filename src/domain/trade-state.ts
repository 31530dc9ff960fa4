/**
 * The current state of a trade from the set of its versions: the highest version that carries
 * trade data (created/amended) gives the content; the trade is cancelled when its highest version
 * of all is a cancellation above that. A function of the set, so arrival order never matters.
 */
export interface VersionSummary<D> {
  version: number;
  kind: 'created' | 'amended' | 'cancelled';
  data: D;
}

export interface TradeState<D> {
  dataVersion: VersionSummary<D>;
  version: number;
  status: 'active' | 'cancelled';
}

export function currentTradeState<D>(versions: readonly VersionSummary<D>[]): TradeState<D> | null {
  let top: VersionSummary<D> | null = null;
  let topData: VersionSummary<D> | null = null;
  for (const v of versions) {
    if (!top || v.version > top.version) top = v;
    if (v.kind !== 'cancelled' && (!topData || v.version > topData.version)) topData = v;
  }
  if (!top || !topData) return null;
  return {
    dataVersion: topData,
    version: top.version,
    status: top.kind === 'cancelled' && top.version > topData.version ? 'cancelled' : 'active',
  };
}
