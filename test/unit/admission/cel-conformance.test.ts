/**
 * The CEL conformance suite (google/cel-spec, as @bufbuild/cel-spec ships it), for the parts that
 * admission policies over JSON objects use, run through this server's CEL (policy/cel.ts: its
 * environment, extension functions and JSON conversion), not the library's own runner. A case whose
 * inputs or result JSON cannot carry (uint, bytes, protobuf messages, types, timestamps), or that
 * declares variables or a container, is left out; those left out are counted, and the run must cover a
 * floor of cases so that a change in the data cannot make it pass by running nothing.
 */
import { tests } from '@bufbuild/cel-spec/testdata/conformance.js';
import { compile } from '../../../src/widget-server/admission/cel/cel';

/** Sections run: literals, comparisons, logic, lists, maps and fields, macros, strings, integer and fp math. */
const SECTIONS: Record<string, readonly string[] | 'all'> = {
  basic: ['self_eval_zeroish', 'self_eval_nonzeroish'],
  comparisons: [
    'eq_literal',
    'ne_literal',
    'lt_literal',
    'gt_literal',
    'lte_literal',
    'gte_literal',
    'in_list_literal',
    'in_map_literal',
  ],
  logic: 'all',
  lists: 'all',
  fields: ['map_fields', 'map_has', 'in'],
  macros: 'all',
  string: ['size', 'starts_with', 'ends_with', 'matches', 'concatenation', 'contains'],
  string_ext: [
    'char_at',
    'index_of',
    'last_index_of',
    'ascii_casing',
    'replace',
    'split',
    'substring',
    'trim',
    'join',
  ],
  integer_math: ['int64_math'],
  fp_math: 'all',
};

type Value = Record<string, unknown>;
const SKIP = Symbol('not representable in JSON');

/** A conformance `Value` as the JSON this server's CEL returns, or SKIP. */
function json(v: Value): unknown {
  if ('int64Value' in v) {
    const n = Number(v.int64Value);
    return Number.isSafeInteger(n) ? n : SKIP;
  }
  if ('doubleValue' in v) {
    const n = Number(v.doubleValue);
    return Number.isFinite(n) ? n : SKIP;
  }
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('nullValue' in v) return null;
  if ('listValue' in v) {
    const values = ((v.listValue as { values?: Value[] }).values ?? []).map(json);
    return values.includes(SKIP) ? SKIP : values;
  }
  if ('mapValue' in v) {
    const out: Record<string, unknown> = {};
    for (const e of (v.mapValue as { entries?: Array<{ key: Value; value: Value }> }).entries ?? []) {
      const k = json(e.key);
      const val = json(e.value);
      if (typeof k !== 'string' || val === SKIP) return SKIP;
      out[k] = val;
    }
    return out;
  }
  return SKIP;
}

interface Case {
  section: string;
  name: string;
  expr: string;
  expected?: unknown;
  error?: boolean;
}

const cases: Case[] = [];
let skipped = 0;
for (const suite of tests.suites ?? []) {
  const wanted = SECTIONS[suite.name];
  if (!wanted) continue;
  for (const section of suite.suites ?? []) {
    if (wanted !== 'all' && !wanted.includes(section.name)) continue;
    for (const t of section.tests ?? []) {
      const o = t.original as Record<string, unknown> & { expr: string; name?: string };
      const name = `${suite.name}/${section.name}/${o.name ?? o.expr}`;
      if (o.bindings || o.container || o.typeEnv || o.disableMacros) {
        skipped++;
        continue;
      }
      if (o.evalError) {
        cases.push({ section: suite.name, name, expr: o.expr, error: true });
        continue;
      }
      const expected = o.value === undefined ? true : json(o.value as Value);
      if (expected === SKIP) {
        skipped++;
        continue;
      }
      cases.push({ section: suite.name, name, expr: o.expr, expected });
    }
  }
}

test('the suite covers every section chosen, with a floor of cases', () => {
  const sections = new Set(cases.map((c) => c.section));
  expect([...sections].sort()).toEqual(Object.keys(SECTIONS).sort());
  expect(cases.length).toBeGreaterThan(500);
  expect(skipped).toBeLessThan(cases.length);
});

test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  let result: { value?: unknown; error?: string };
  try {
    result = compile(c.expr)({});
  } catch (e) {
    result = { error: (e as Error).message };
  }
  if (c.error) expect(result).toEqual({ error: expect.any(String) });
  else expect(result).toEqual({ value: c.expected });
});
