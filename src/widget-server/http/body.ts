/**
 * Request bodies: read with an explicit byte limit (413 beyond it, before parsing anything), decoded by
 * Content-Type (JSON or YAML for objects; the patch media types for PATCH), with kube-apiserver's 400
 * and 415 Status errors for malformed or unsupported input. Every decoder here is bounded before
 * recursive code runs: nesting depth (JSON by a linear scan, YAML by its indentation and flow
 * brackets), YAML alias expansion, and duplicate JSON keys are recorded for strict field validation.
 */
import type { Request } from 'express';
import type { Document, LineCounter } from 'yaml';
import { yaml } from '../../shared/yaml';
import { badRequest, requestEntityTooLarge, unsupportedMediaType } from '../../shared/status-errors';
import { attachStrictFindings, exceedsDepth, parseJsonBounded } from '../api/json-bounded';
import { inputLimits } from '../api/limits';

/** kube-apiserver's default --max-request-body-bytes is 3 MiB; our objects are far smaller. */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

export const OBJECT_MEDIA_TYPES = ['application/json', 'application/yaml'];

export async function readBody(req: Request, limitBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    throw requestEntityTooLarge(limitBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      req.resume();
      throw requestEntityTooLarge(limitBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function baseContentType(req: Request): string {
  return (req.headers['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase();
}

/**
 * JSON text to a value with the nesting limit; `prefix` is the caller's error context ("the body of
 * the request could not be decoded as JSON", "error decoding patch").
 */
export function decodeJsonText(raw: string, prefix: string, findDuplicates = false): unknown {
  try {
    const { value, duplicates } = parseJsonBounded(raw, {
      maxDepth: inputLimits().maxNestingDepth,
      findDuplicates,
    });
    // sigs.k8s.io/json's strict error for each: duplicate field "spec.replicas".
    const messages = duplicates.map((p) => `duplicate field "${p}"`);
    attachStrictFindings(value, { errors: messages, warnings: messages });
    return value;
  } catch (e) {
    throw badRequest(`${prefix}: ${(e as Error).message}`);
  }
}

/**
 * Nesting depth of a YAML text, over-estimated without parsing: indentation levels of block
 * collections (a `- ` item counts as one more) plus open flow brackets. The yaml package composes
 * recursively, so this must hold before it runs.
 */
export function yamlDepthEstimate(raw: string): number {
  const indents: number[] = [];
  let flow = 0;
  let max = 0;
  for (const line of raw.split('\n')) {
    let col = 0;
    while (line[col] === ' ') col++;
    if (col === line.length || line[col] === '#') continue;
    let dashes = 0;
    while (line[col] === '-' && (line[col + 1] === ' ' || col + 1 === line.length)) {
      dashes++;
      col += 2;
      while (line[col] === ' ') col++;
    }
    while (indents.length && indents[indents.length - 1] >= col - dashes * 2) indents.pop();
    indents.push(col - dashes * 2);
    let quote = '';
    for (let i = col; i < line.length; i++) {
      const c = line[i];
      if (quote) {
        if (c === quote) quote = '';
        else if (c === '\\' && quote === '"') i++;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '#' && (i === 0 || line[i - 1] === ' ')) break;
      else if (c === '[' || c === '{') {
        flow++;
        max = Math.max(max, indents.length + dashes + flow);
      } else if ((c === ']' || c === '}') && flow > 0) flow--;
    }
    max = Math.max(max, indents.length + dashes + flow);
  }
  return max;
}

function decodeYaml(raw: string): unknown {
  const limits = inputLimits();
  const fail = (why: string) => badRequest(`the body of the request could not be decoded as YAML: ${why}`);
  // goyaml's text: "yaml: exceeded max depth of 10000".
  if (yamlDepthEstimate(raw) > limits.maxNestingDepth) {
    throw fail(`yaml: exceeded max depth of ${limits.maxNestingDepth}`);
  }
  // resolveKnownTags=false: !!set, !!omap, !!pairs stay a mapping / a sequence of mappings, as
  // sigs.k8s.io/yaml (goyaml v2) decodes them, instead of becoming JS Set/Map objects that serialize
  // as {}.
  const lineCounter = new (yaml().LineCounter)();
  const doc = yaml().parseDocument(raw, {
    uniqueKeys: false,
    prettyErrors: false,
    resolveKnownTags: false,
    lineCounter,
  });
  if (doc.errors.length) throw fail(doc.errors[0].message);
  const keysSetTwice = duplicateYamlKeys(doc, lineCounter);
  const tooDeep = () => fail(`yaml: exceeded max depth of ${limits.maxNestingDepth}`);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: limits.maxYamlAliasCount });
  } catch (e) {
    // The yaml package throws ReferenceError past maxAliasCount; goyaml's text for the same refusal.
    if (e instanceof ReferenceError) throw fail('yaml: document contains excessive aliasing');
    if (e instanceof RangeError) throw tooDeep();
    throw fail((e as Error).message);
  }
  // Aliases nest anchored values inside each other, which the text estimate cannot see.
  if (exceedsDepth(value, limits.maxNestingDepth)) throw tooDeep();
  if (keysSetTwice.length) {
    // YAMLToJSONStrict's error (strict decoding), one warning per line (parseYAMLWarnings).
    attachStrictFindings(value, {
      errors: [`error converting YAML to JSON: yaml: unmarshal errors:\n  ${keysSetTwice.join('\n  ')}`],
      warnings: keysSetTwice,
      afterUnknownFields: true,
    });
  }
  return value;
}

/**
 * Keys given twice in one mapping, as goyaml v2's strict mode reports them: `line 5: key "replicas"
 * already set in map`. Without Strict the last value wins, as in YAMLToJSON. The walk is recursive
 * only to the depth already checked.
 */
function duplicateYamlKeys(doc: Document, lineCounter: LineCounter): string[] {
  const found: string[] = [];
  yaml().visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const { key } of map.items) {
        if (!yaml().isScalar(key)) continue;
        const id = `${typeof key.value}:${String(key.value)}`;
        if (!seen.has(id)) {
          seen.add(id);
          continue;
        }
        const line = key.range ? lineCounter.linePos(key.range[0]).line : 0;
        const shown = typeof key.value === 'string' ? JSON.stringify(key.value) : String(key.value);
        found.push(`line ${line}: key ${shown} already set in map`);
      }
    },
  });
  return found;
}

/** Decodes an object body by Content-Type; an empty body is `undefined` (valid only for DELETE). */
export function decodeObjectBody(raw: string, contentType: string): unknown {
  if (raw.trim() === '') return undefined;
  if (contentType === 'application/json' || contentType === '') {
    return decodeJsonText(raw, 'the body of the request could not be decoded as JSON', true);
  }
  if (
    contentType === 'application/yaml' ||
    contentType === 'application/x-yaml' ||
    contentType === 'text/yaml'
  ) {
    return decodeYaml(raw);
  }
  throw unsupportedMediaType(OBJECT_MEDIA_TYPES);
}
