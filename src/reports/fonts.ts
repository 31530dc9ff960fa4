import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * The CJK font the PDF reports embed: Noto Sans SC (SIL Open Font License 1.1, which allows
 * embedding), Regular and Bold, as complete static TrueType files from the npm package
 * `@expo-google-fonts/noto-sans-sc` — so a fresh `npm ci` has it on every machine, with no OS
 * font package. The files cover all of GB 18030's common hanzi plus Latin, digits and CJK
 * punctuation (~30,000 characters): Chinese names and summaries never fall back to tofu boxes.
 * pdfkit embeds only the glyphs a document uses (subsetting), so a report stays small.
 *
 * The files are read once per process (≈10 MB each) and kept.
 */
const require = createRequire(import.meta.url);

const FILES = {
  regular: '@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf',
  bold: '@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf',
} as const;

const cache = new Map<keyof typeof FILES, Buffer>();

export function cjkFont(weight: keyof typeof FILES): Buffer {
  let buf = cache.get(weight);
  if (!buf) {
    buf = readFileSync(require.resolve(FILES[weight]));
    cache.set(weight, buf);
  }
  return buf;
}
