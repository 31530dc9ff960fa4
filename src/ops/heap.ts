import { setFlagsFromString } from 'node:v8';

/**
 * Bounds how far V8 lets the heap of a long-running server process grow past what its last full
 * collection kept. Left to itself, V8 grows the old generation by up to four times the live
 * data before collecting it, on a machine with memory to spare: a worker that keeps about 40 MB
 * live reached 160 MB of heap (190 MB committed) between full collections and 330–430 MiB of
 * resident memory while draining 200,000 events. With 50% it collects at about 1.5 times the live
 * data — about four times as many full collections, each over a small live set — and peaked at
 * 223–251 MiB (docs/benchmarks.md).
 *
 * A growth factor, not a ceiling: a job that needs more memory still gets it (a heap limit such as
 * --max-old-space-size would end the process instead). V8 reads the flag each time it sets the
 * next collection's limit, so setting it at start-up, before the heavy work, takes effect.
 */
export function applyHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
