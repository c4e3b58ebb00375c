/**
 * Bounded `Warning` headers, as k8s.io/apiserver's warning recorder (endpoints/filters/warning.go)
 * writes them: texts deduplicated; while the texts written stay within 4096 runes in total they are
 * sent whole; the first text that would cross that limit switches to truncation, which rewrites every
 * recorded text to at most 256 runes, and further texts are added (truncated) only until the total
 * reaches 4096. Texts with control characters are dropped (net.NewWarningHeader refuses them).
 */

export const WARNING_TOTAL_RUNES = 4 * 1024;
export const WARNING_ITEM_RUNES = 256;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * `299 - "text"`, quoted like Go's strconv.QuoteToASCII. kube-apiserver sends the UTF-8 bytes
 * (strconv.Quote); Node cannot put characters above U+00FF in a header and, depending on how the body
 * is written, sends latin1 header text either as latin1 or as UTF-8, so only ASCII is sent reliably.
 */
export function warningHeaderValue(text: string): string {
  return `299 - ${JSON.stringify(text).replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )}`;
}

function runes(text: string): string[] {
  return Array.from(text);
}

/**
 * The Warning header values for `texts`, in order. Linear in the input: every text is looked at once
 * and at most ~4 KiB of header text is produced however many warnings a request raised.
 */
export function boundedWarnings(
  texts: Iterable<string>,
  totalRunes = WARNING_TOTAL_RUNES,
  itemRunes = WARNING_ITEM_RUNES,
): string[] {
  const seen = new Set<string>();
  const ordered: string[] = [];
  let headers: string[] = [];
  let written = 0;
  let truncating = false;
  const shorten = (text: string): [string, number] => {
    const r = runes(text);
    return r.length > itemRunes ? [r.slice(0, itemRunes).join(''), itemRunes] : [text, r.length];
  };
  for (const original of texts) {
    if (!original) continue;
    if (truncating && written >= totalRunes) break;
    if (seen.has(original)) continue;
    seen.add(original);
    if (CONTROL.test(original)) continue;
    ordered.push(original);
    let text = original;
    let length = runes(text).length;
    if (truncating) [text, length] = shorten(text);
    if (written + length <= totalRunes || truncating) {
      written += length;
      headers.push(warningHeaderValue(text));
      continue;
    }
    truncating = true;
    written = 0;
    headers = [];
    for (const earlier of ordered) {
      const [t, l] = shorten(earlier);
      written += l;
      headers.push(warningHeaderValue(t));
    }
  }
  return headers;
}
