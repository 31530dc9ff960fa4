import type { Db } from '../db/database';
import type { Tolerances } from '../domain/tolerances';
import type { Logger } from '../log';
import type { Keyring } from '../security/keys';

/** What event processing needs: the database, the keys for personal data, the tolerances. */
export interface ProcessingContext {
  db: Db;
  keyring: Keyring;
  tolerances: Tolerances;
  log: Logger;
  /**
   * When set, a job also takes other pending events of its platform up to this many per
   * transaction (the workers use MAX_EVENTS_PER_JOB). Tests leave it unset to control batching.
   */
  batchSize?: number;
}

export interface StreamKey {
  partyKey: string;
  material: string;
}

export interface TradeKey {
  platform: string;
  tradeId: string;
}

export const tradeKeyString = (k: TradeKey) => `${k.platform}\u001f${k.tradeId}`;
export const streamKeyString = (k: StreamKey) => `${k.partyKey}\u001f${k.material}`;
