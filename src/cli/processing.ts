import { buildChain, type Direction } from '../chains/chain.service';
import { findTradeRef } from '../repositories/chains.repository';
import type { Runtime } from '../runtime';
import { CliError, limitFlag, printJson, say, UsageError } from './output';

/** `chain <platform>:<trade_id> [--direction upstream|downstream|both] [--depth 1..20]` */
export async function chainCommand(
  rt: Runtime,
  args: string[],
  flags: { direction?: string; depth?: string },
): Promise<void> {
  const [id] = args;
  if (!id)
    throw new UsageError(
      'chain <platform>:<trade_id> | <id> [--direction upstream|downstream|both] [--depth 1..20]',
    );
  const direction = (flags.direction ?? 'both') as Direction;
  if (!['upstream', 'downstream', 'both'].includes(direction))
    throw new UsageError('--direction is upstream, downstream or both');
  const depth = flags.depth === undefined ? 10 : Number(flags.depth);
  if (!Number.isInteger(depth) || depth < 1 || depth > 20)
    throw new UsageError('--depth is a whole number from 1 to 20');
  const ref = await findTradeRef(rt.db, id);
  if (!ref) throw new CliError(`no trade ${id}`);
  printJson(await buildChain(rt.db, ref, { direction, maxDepth: depth }));
}

/** `dead-letters list [--platform P]` · `dead-letters retry <platform>:<event_id> | --all` */
export async function deadLettersCommand(
  rt: Runtime,
  args: string[],
  flags: { platform?: string; all?: boolean; limit?: string },
): Promise<void> {
  const [sub, id] = args;
  if (sub === 'list') {
    let q = rt.db
      .selectFrom('inbound_events')
      .select(['platform', 'event_id', 'event_type', 'received_at', 'attempts', 'last_error'])
      .where('state', '=', 'dead')
      .orderBy('received_at')
      .limit(limitFlag(flags.limit));
    if (flags.platform) q = q.where('platform', '=', flags.platform);
    printJson({ items: await q.execute() });
    return;
  }
  if (sub === 'retry') {
    let q = rt.db
      .updateTable('inbound_events')
      .set({ state: 'pending', attempts: 0, last_error: null })
      .where('state', '=', 'dead')
      .returning(['platform', 'event_id']);
    if (!flags.all) {
      const colon = id?.indexOf(':') ?? -1;
      if (!id || colon < 1)
        throw new UsageError(
          'dead-letters retry <platform>:<event_id> | dead-letters retry --all [--platform P]',
        );
      q = q.where('platform', '=', id.slice(0, colon)).where('event_id', '=', id.slice(colon + 1));
    } else if (flags.platform) q = q.where('platform', '=', flags.platform);
    const rows = await q.execute();
    try {
      await rt.queues.enqueue(rows.map((r) => ({ platform: r.platform, eventId: r.event_id })));
    } catch {
      say('Redis is unavailable: the events are pending again and the workers’ sweep will pick them up');
    }
    printJson({ retried: rows.length });
    return;
  }
  throw new UsageError('dead-letters list [--platform P] | dead-letters retry <platform>:<event_id> | --all');
}
