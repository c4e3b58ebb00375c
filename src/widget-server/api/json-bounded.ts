/**
 * Bounded JSON decoding for request bodies: a single linear, non-recursive pass over the text that
 * enforces a nesting-depth limit before anything is built (Go's encoding/json does the same in its
 * scanner, at 10000) and reports duplicate object keys by path (what sigs.k8s.io/json's strict mode
 * reports as `duplicate field "spec.replicas"`); then V8's JSON.parse (non-recursive since V8 7.6,
 * keeps `__proto__` as an own property) builds the value.
 *
 * Hand-written on purpose: the npm JSON parsers that report duplicate keys (@humanwhocodes/momoa,
 * jsonc-parser, json-dup-key-validator) are recursive descent and overflow the stack on the very
 * inputs this must refuse, none enforces a depth limit, and building an AST for a 3 MiB body costs far
 * more than this scan. The scan only tracks strings, brackets, commas and colons; JSON.parse remains
 * the judge of syntax.
 */

/**
 * Strictness findings of the body decoder that field validation reports (kube-apiserver collects them
 * as strict decoding errors): JSON duplicate fields, YAML keys set twice. Carried on the decoded body
 * itself, as a non-enumerable symbol property (invisible to serialization and iteration), from the HTTP
 * layer to decodeWidget. `errors` make up the Strict-mode message, `warnings` the Warn-mode headers.
 */
export const STRICT_FINDINGS: unique symbol = Symbol('strictFindings');

export interface StrictFindings {
  errors: string[];
  warnings: string[];
  /** YAML's come after the unknown fields (a second pass in kube), JSON's before. */
  afterUnknownFields?: boolean;
}

export function attachStrictFindings(body: unknown, findings: StrictFindings): void {
  if (!findings.errors.length || typeof body !== 'object' || body === null) return;
  Object.defineProperty(body, STRICT_FINDINGS, { value: findings, enumerable: false });
}

export function strictFindingsOf(body: unknown): StrictFindings {
  if (typeof body !== 'object' || body === null) return { errors: [], warnings: [] };
  return (body as { [STRICT_FINDINGS]?: StrictFindings })[STRICT_FINDINGS] ?? { errors: [], warnings: [] };
}

export class NestingTooDeepError extends Error {
  constructor(
    readonly limit: number,
    readonly char: string,
  ) {
    // Go: SyntaxError "invalid character '{' exceeded max depth".
    super(`invalid character '${char}' exceeded max depth`);
  }
}

export class JsonSyntaxError extends Error {}

interface Frame {
  array: boolean;
  /** Array frames: the index of the element being read. */
  index: number;
  /** Object frames: keys seen so far (created on the first key), and the key whose value comes next. */
  keys?: Set<string>;
  key?: string;
  /** Where this container sits, for naming a duplicate's path only when one is found. */
  parent?: Frame;
  at?: string | number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** `spec.items[1].name`: the path of `key` inside `frame`, as sigs.k8s.io/json names fields. */
function pathOf(frame: Frame, key: string): string {
  const parts: (string | number)[] = [key];
  for (let f: Frame | undefined = frame; f?.parent; f = f.parent) parts.push(f.at!);
  let path = '';
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i];
    path += typeof part === 'number' ? `[${part}]` : path ? `.${part}` : part;
  }
  return path;
}

/**
 * Throws NestingTooDeepError when objects/arrays nest deeper than `maxDepth`; returns the paths of
 * duplicate keys (empty unless `findDuplicates`). Runs in time linear in the text.
 */
export function scanJson(text: string, maxDepth: number, findDuplicates: boolean): string[] {
  const stack: Frame[] = [];
  const duplicates: string[] = [];
  let lastString: string | undefined;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      let escaped = false;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) {
          escaped = true;
          i += 2;
          continue;
        }
        if (d === QUOTE) break;
        i++;
      }
      if (findDuplicates) {
        const raw = text.slice(start, Math.min(i, n));
        lastString = raw;
        if (escaped) {
          try {
            lastString = JSON.parse(`"${raw}"`) as string;
          } catch {
            // Malformed escape: JSON.parse of the whole body reports it.
          }
        }
      }
      continue;
    }
    switch (c) {
      case 0x7b: // {
      case 0x5b: {
        // [
        if (stack.length >= maxDepth) throw new NestingTooDeepError(maxDepth, text[i]);
        const parent = stack[stack.length - 1];
        const frame: Frame = { array: c === 0x5b, index: 0 };
        if (findDuplicates && parent) {
          frame.parent = parent;
          frame.at = parent.array ? parent.index : parent.key;
        }
        stack.push(frame);
        break;
      }
      case 0x7d: // }
      case 0x5d: // ]
        stack.pop();
        break;
      case 0x2c: {
        // ,
        const top = stack[stack.length - 1];
        if (top?.array) top.index++;
        break;
      }
      case 0x3a: {
        // : — the string just read was a key
        const top = stack[stack.length - 1];
        if (findDuplicates && top && !top.array && lastString !== undefined) {
          top.keys ??= new Set();
          if (top.keys.has(lastString)) duplicates.push(pathOf(top, lastString));
          else top.keys.add(lastString);
          top.key = lastString;
        }
        break;
      }
    }
  }
  return duplicates;
}

export interface BoundedJson {
  value: unknown;
  /** Paths of keys that appear more than once in one object; the last value wins, as in Go. */
  duplicates: string[];
}

/** JSON.parse with the depth limit and duplicate-key report of scanJson. */
export function parseJsonBounded(
  text: string,
  opts: { maxDepth: number; findDuplicates?: boolean },
): BoundedJson {
  const duplicates = scanJson(text, opts.maxDepth, opts.findDuplicates ?? false);
  try {
    return { value: JSON.parse(text), duplicates };
  } catch (e) {
    throw new JsonSyntaxError((e as Error).message);
  }
}

/**
 * Depth of an already-built value without recursion (YAML documents, values built by code); stops
 * counting at `limit + 1`.
 */
export function exceedsDepth(value: unknown, limit: number): boolean {
  const work: [unknown, number][] = [[value, 0]];
  while (work.length) {
    const [v, depth] = work.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) work.push([child, depth + 1]);
    }
  }
  return false;
}
