/** Readers for the report files, as a recipient would open them: CSV, XLSX (exceljs), PDF text layer. */

/** RFC 4180 records of a CSV text (quotes, doubled quotes, CRLF or LF). */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let rec: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      rec.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      rec.push(field);
      records.push(rec);
      rec = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || rec.length > 0) {
    rec.push(field);
    records.push(rec);
  }
  return records;
}

/** The report CSV's sections: id → rows as objects keyed by the section's header. */
export function csvSections(text: string): Record<string, Record<string, string>[]> {
  const out: Record<string, Record<string, string>[]> = {};
  const records = parseCsv(text);
  let i = 0;
  while (i < records.length) {
    const title = records[i]!;
    const m = title.length === 1 ? /^\[(\w+)\]/.exec(title[0]!) : null;
    if (!m) {
      i++;
      continue;
    }
    const header = records[i + 1]!;
    const rows: Record<string, string>[] = [];
    i += 2;
    while (i < records.length && !(records[i]!.length === 1 && records[i]![0] === '')) {
      rows.push(Object.fromEntries(header.map((h, k) => [h, records[i]![k] ?? ''])));
      i++;
    }
    out[m[1]!] = rows;
  }
  return out;
}

/** Every text item of every page of a PDF, joined (pdf.js, the legacy build that runs in Node). */
export async function pdfText(data: Buffer): Promise<{ pages: number; text: string }> {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const doc = await pdfjs.getDocument({
    data: new Uint8Array(data),
    isEvalSupported: false,
    useSystemFonts: false,
    verbosity: 0,
  }).promise;
  const parts: string[] = [];
  for (let p = 1; p <= doc.numPages; p++) {
    const page = await doc.getPage(p);
    const content = await page.getTextContent();
    for (const item of content.items) if ('str' in item) parts.push(item.str);
    parts.push('\n');
  }
  const pages = doc.numPages;
  await doc.destroy();
  return { pages, text: parts.join('') };
}
