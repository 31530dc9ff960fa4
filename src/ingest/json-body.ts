/**
 * How an event's bytes become its JSON value — the same at ingestion, on quarantine replay and in
 * the workers that read the stored bytes back, so that whatever was accepted can be processed:
 * UTF-8 decoded strictly (a bad byte is an error, not U+FFFD), and a byte order mark at the start
 * ignored, as the WHATWG decoder does (JSON.parse of text that still begins with U+FEFF fails).
 */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The JSON value of a body or stored line; throws on bad UTF-8 or bad JSON. */
export function parseJsonBytes(raw: Uint8Array): unknown {
  return JSON.parse(utf8.decode(raw));
}
