import type { Logger } from '../log';

/**
 * Runs `task` every `intervalMs` in this process, never two rounds at once (a round still running
 * when the next is due is left to finish, the due one skipped). A failed round is logged as
 * `<what> failed; will retry` and the next round runs as usual. The timer does not keep the
 * process alive; `stop` clears it and waits for the round in progress.
 */
export function startPeriodic(
  what: string,
  task: () => Promise<unknown>,
  intervalMs: number,
  log: Logger,
): { stop: () => Promise<void> } {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = task()
      .catch((err) => log.warn({ err: (err as Error).message }, `${what} failed; will retry`))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
