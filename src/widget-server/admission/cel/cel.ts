/**
 * CEL as Kubernetes' admission policies use it, on @bufbuild/cel (docs/decisions/0005-cel.md): JSON
 * objects become CEL maps and lists, whole numbers ints and others doubles, as a structural schema's
 * `integer` and `number` do; the extension libraries Kubernetes adds that are implemented here are
 * strings (from @bufbuild/cel), lists (isSorted, sum, min, max, indexOf, lastIndexOf) and regex (find,
 * findAll), the `authorizer` (authorizer.ts), quantity (quantity.ts), ip and cidr
 * (network.ts) and url (url.ts). Expressions are compiled once and evaluated many times; this
 * module is pure and runs in the evaluation worker (worker.ts), which bounds evaluation time.
 */
import {
  celEnv,
  celMethod,
  CelScalar,
  isCelError,
  isCelList,
  isCelMap,
  listType,
  parse,
  plan,
  type CelFunc,
  type CelList,
  type CelValue,
} from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { authorizerLibrary } from './authorizer';
import { cidrFuncs, ipFuncs } from './network';
import { quantityFuncs } from './quantity';
import { urlFuncs } from './url';

/** kube-apiserver refuses expressions longer than this (apiextensions' and admission's 5 KiB... per rule). */
export const MAX_EXPRESSION_LENGTH = 5 * 1024;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON value as CEL sees it. */
export function toCel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object') {
    const m = new Map<string, unknown>();
    for (const [k, v] of Object.entries(value)) if (v !== undefined) m.set(k, toCel(v));
    return m;
  }
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return value;
}

/** A CEL result as JSON, for results and messages. */
export function fromCel(value: unknown): Json {
  if (typeof value === 'bigint') return Number(value);
  if (isCelList(value)) {
    const out: Json[] = [];
    for (const v of value as unknown as Iterable<unknown>) out.push(fromCel(v));
    return out;
  }
  if (isCelMap(value)) {
    const out: Record<string, Json> = {};
    for (const [k, v] of value as unknown as Iterable<[unknown, unknown]>) out[String(k)] = fromCel(v);
    return out;
  }
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string')
    return value;
  return String(value);
}

function listValues(list: CelList): CelValue[] {
  return [...(list as unknown as Iterable<CelValue>)];
}

function compare(a: CelValue, b: CelValue): number {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    const x = Number(a);
    const y = Number(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  throw new Error('list elements are not comparable');
}

function equal(a: CelValue, b: CelValue): boolean {
  try {
    return compare(a, b) === 0;
  } catch {
    return false;
  }
}

const LIST = listType(CelScalar.DYN);

/** Kubernetes' lists library (k8s.io/apiserver/pkg/cel/library/lists.go). */
const lists: CelFunc[] = [
  celMethod('isSorted', LIST, [], CelScalar.BOOL, function () {
    const v = listValues(this);
    for (let i = 1; i < v.length; i++) if (compare(v[i - 1], v[i]) > 0) return false;
    return true;
  }),
  celMethod('sum', LIST, [], CelScalar.DYN, function () {
    const v = listValues(this);
    if (v.every((x) => typeof x === 'bigint')) return (v as bigint[]).reduce((s, x) => s + x, 0n);
    return v.reduce<number>((s, x) => s + Number(x), 0);
  }),
  celMethod('min', LIST, [], CelScalar.DYN, function () {
    const v = listValues(this);
    if (!v.length) throw new Error('min called on empty list');
    return v.reduce((m, x) => (compare(x, m) < 0 ? x : m));
  }),
  celMethod('max', LIST, [], CelScalar.DYN, function () {
    const v = listValues(this);
    if (!v.length) throw new Error('max called on empty list');
    return v.reduce((m, x) => (compare(x, m) > 0 ? x : m));
  }),
  celMethod('indexOf', LIST, [CelScalar.DYN], CelScalar.INT, function (x) {
    return BigInt(listValues(this).findIndex((e) => equal(e, x)));
  }),
  celMethod('lastIndexOf', LIST, [CelScalar.DYN], CelScalar.INT, function (x) {
    const v = listValues(this);
    for (let i = v.length - 1; i >= 0; i--) if (equal(v[i], x)) return BigInt(i);
    return -1n;
  }),
];

/** Kubernetes' regex library (regex.go): RE2 patterns, which JS's engine accepts for what policies use. */
const regex: CelFunc[] = [
  celMethod('find', CelScalar.STRING, [CelScalar.STRING], CelScalar.STRING, function (pattern) {
    return new RegExp(pattern).exec(this)?.[0] ?? '';
  }),
  celMethod('findAll', CelScalar.STRING, [CelScalar.STRING], listType(CelScalar.STRING), function (pattern) {
    return [...this.matchAll(new RegExp(pattern, 'g'))].map((m) => m[0]);
  }),
  celMethod(
    'findAll',
    CelScalar.STRING,
    [CelScalar.STRING, CelScalar.INT],
    listType(CelScalar.STRING),
    function (pattern, limit) {
      const all = [...this.matchAll(new RegExp(pattern, 'g'))].map((m) => m[0]);
      return limit < 0n ? all : all.slice(0, Number(limit));
    },
  ),
];

const ENV = celEnv({
  funcs: [
    ...strings,
    ...lists,
    ...regex,
    ...authorizerLibrary,
    ...quantityFuncs,
    ...ipFuncs,
    ...cidrFuncs,
    ...urlFuncs,
  ],
});

export type CelProgram = (bindings: Record<string, unknown>) => { value?: Json; error?: string };

/** Compiles an expression; throws with the parser's message when it does not parse. */
export function compile(expression: string): CelProgram {
  if (expression.length > MAX_EXPRESSION_LENGTH)
    throw new Error(`expression is longer than ${MAX_EXPRESSION_LENGTH} bytes`);
  let parsed;
  try {
    parsed = parse(expression);
  } catch (e) {
    throw new Error(`compilation failed: ${(e as Error).message}`);
  }
  const program = plan(ENV, parsed);
  return (bindings) => {
    try {
      const result = program(bindings as never);
      if (isCelError(result)) return { error: result.message };
      return { value: fromCel(result) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  };
}
