/**
 * Many byte strings sent as ONE binary parameter with their 1-based offsets and lengths, for an
 * `unnest` insert that cuts each row's bytes out with `substring(bytes FROM at FOR len)`.
 * node-postgres sends a Buffer in binary; a `bytea[]` parameter would travel as hex text, twice
 * the size, built and parsed character by character on both sides.
 */
export interface PackedBytes {
  bytes: Buffer;
  at: number[];
  len: number[];
}

export function packBytes(parts: readonly Buffer[]): PackedBytes {
  const at = new Array<number>(parts.length);
  const len = new Array<number>(parts.length);
  let next = 1;
  parts.forEach((p, k) => {
    at[k] = next;
    len[k] = p.length;
    next += p.length;
  });
  return { bytes: Buffer.concat(parts), at, len };
}
