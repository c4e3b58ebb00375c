/**
 * The pure pieces behind the request-body bounds: the linear JSON scan (depth, duplicate keys), the
 * YAML depth estimate, the warning recorder's truncation (k8s.io/apiserver's TestTruncation case,
 * replayed), and the RFC 6902 applier's evanphx-compatible semantics and copy accounting.
 */
import {
  exceedsDepth,
  NestingTooDeepError,
  parseJsonBounded,
  scanJson,
} from '../../../src/widget-server/api/json-bounded';
import { applyJsonPatch, JsonPatchApplyError } from '../../../src/widget-server/api/json-patch';
import { boundedWarnings, warningHeaderValue } from '../../../src/widget-server/api/warnings';
import { yamlDepthEstimate } from '../../../src/widget-server/http/body';

describe('scanJson', () => {
  it('counts nesting of objects and arrays, ignoring brackets inside strings', () => {
    expect(() => scanJson('[[[1]]]', 3, false)).not.toThrow();
    expect(() => scanJson('[[[[1]]]]', 3, false)).toThrow(NestingTooDeepError);
    expect(() => scanJson('{"a":"[[[[{{{{\\"[[["}', 1, false)).not.toThrow();
    expect(() => scanJson('{"a":{"b":[]}}', 2, false)).toThrow("invalid character '[' exceeded max depth");
  });

  it('reports duplicate keys by path, like sigs.k8s.io/json strict errors', () => {
    const text =
      '{"spec":{"replicas":1,"replicas":2},"items":[{"a":1},{"a":1,"a":2}],"m":{"k\\u0065y":1,"key":2},"spec":{}}';
    expect(scanJson(text, 100, true)).toEqual(['spec.replicas', 'items[1].a', 'm.key', 'spec']);
    expect(scanJson(text, 100, false)).toEqual([]);
  });

  it('parses with JSON.parse, keeping __proto__ as an own property', () => {
    const { value } = parseJsonBounded('{"__proto__":{"x":1}}', { maxDepth: 5 });
    expect(Object.keys(value as object)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('measures built values without recursion', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(exceedsDepth(deep, 199_999)).toBe(true);
    expect(exceedsDepth(deep, 200_000)).toBe(false);
    expect(exceedsDepth({ a: { b: 1 } }, 2)).toBe(false);
  });
});

describe('yamlDepthEstimate', () => {
  it('over-estimates nesting from indentation, sequence dashes and flow brackets', () => {
    expect(yamlDepthEstimate('a: 1\nb: 2\n')).toBe(1);
    expect(yamlDepthEstimate('a:\n  b:\n    c: 1\n')).toBe(3);
    expect(yamlDepthEstimate('a:\n- - x\n')).toBe(3);
    expect(yamlDepthEstimate('a: {b: [[1]]}\n')).toBe(4);
    expect(yamlDepthEstimate('a: "[[[[" # [[[[\n')).toBe(1);
  });
});

describe('boundedWarnings', () => {
  it('truncates like k8s.io/apiserver TestTruncation (limits 25 runes total, 5 per item)', () => {
    const q = (t: string) => warningHeaderValue(t);
    const first = ['aaaaaaaaaa', 'aaaaaaaaaa', 'bb', 'ccc', 'Iñtërnâtiô'];
    expect(boundedWarnings(first, 25, 5)).toEqual(['aaaaaaaaaa', 'bb', 'ccc', 'Iñtërnâtiô'].map(q));
    const all = [...first, 'e', 'ffffffffff', 'ffffffffff', 'gggggggggg', 'h'];
    expect(boundedWarnings(all, 25, 5)).toEqual(
      ['aaaaa', 'bb', 'ccc', 'Iñtër', 'e', 'fffff', 'ggggg'].map(q),
    );
  });

  it('drops texts with control characters and escapes non-ASCII', () => {
    expect(boundedWarnings(['a\nb', 'ok'])).toEqual(['299 - "ok"']);
    expect(warningHeaderValue('ñ "q"')).toBe('299 - "\\u00f1 \\"q\\""');
  });

  it('stays linear and bounded for 100,000 warnings', () => {
    const texts = Array.from({ length: 100_000 }, (_, i) => `unknown field "spec.f${i}"`);
    const out = boundedWarnings(texts);
    expect(out.length).toBeLessThan(300);
    expect(out.join('').length).toBeLessThan(4096 + 256 + out.length * 12);
  });
});

describe('applyJsonPatch', () => {
  const apply = (doc: unknown, ops: object[], limit = 0) =>
    applyJsonPatch(structuredClone(doc), ops as Record<string, unknown>[], {
      accumulatedCopySizeLimit: limit,
    });
  const fails = (doc: unknown, ops: object[], message: string | RegExp, limit = 0) => {
    expect(() => apply(doc, ops, limit)).toThrow(JsonPatchApplyError);
    expect(() => apply(doc, ops, limit)).toThrow(message);
  };

  it('applies the six operations with negative indices and ~ escapes', () => {
    const doc = { a: [1, 2, 3], 'b/c': { '~d': 1 } };
    expect(
      apply(doc, [
        { op: 'add', path: '/a/-1', value: 9 },
        { op: 'remove', path: '/a/0' },
        { op: 'replace', path: '/b~1c/~0d', value: 2 },
        { op: 'copy', from: '/a', path: '/e' },
        { op: 'move', from: '/e', path: '/f' },
        { op: 'test', path: '/f', value: [2, 3, 9] },
      ]),
    ).toEqual({ a: [2, 3, 9], 'b/c': { '~d': 2 }, f: [2, 3, 9] });
  });

  it('answers with evanphx/json-patch v4 texts', () => {
    fails(
      {},
      [{ op: 'add', path: '/x/y', value: 1 }],
      'add operation does not apply: doc is missing path: "/x/y": missing value',
    );
    fails({}, [{ op: 'remove', path: '/x' }], 'Unable to remove nonexistent key: x: missing value');
    fails(
      { a: [] },
      [{ op: 'add', path: '/a/2', value: 1 }],
      'Unable to access invalid index: 2: invalid index referenced',
    );
    fails({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }], 'testing value /a failed: test failed');
    fails({}, [{ op: 'frobnicate', path: '/a' }], 'Unexpected kind: frobnicate');
    fails({}, [{ path: '/a' }], 'Unexpected kind: unknown');
  });

  it('resolves own properties only', () => {
    fails({}, [{ op: 'add', path: '/__proto__/x', value: 1 }], 'doc is missing path: "/__proto__/x"');
    fails({ a: {} }, [{ op: 'add', path: '/a/constructor/x', value: 1 }], 'doc is missing path');
    fails({}, [{ op: 'replace', path: '/toString', value: 1 }], 'doc is missing key: /toString');
    const added = apply({}, [{ op: 'add', path: '/__proto__', value: { polluted: 1 } }]) as object;
    expect(Object.keys(added)).toEqual(['__proto__']);
    // An own data property, not the prototype: nothing is inherited from the value.
    expect((added as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(added, '__proto__')?.value).toEqual({ polluted: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses moving a value into its own child', () => {
    fails(
      { a: { b: 1 } },
      [{ op: 'move', from: '/a', path: '/a/c' }],
      'move operation does not apply: doc is missing destination path: /a/c: missing value',
    );
  });

  it('counts every copied byte and stops before the copy that passes the limit', () => {
    const ops: object[] = [{ op: 'add', path: '/x', value: {} }];
    for (let i = 0; i < 40; i++) ops.push({ op: 'copy', from: '/x', path: `/x/${i}` });
    // {} is 2 bytes, then each copy doubles: 2+7+... passes 1000 bytes after a few copies.
    fails(
      {},
      ops,
      /^Unable to complete the copy, the accumulated size increase of copy is \d+, exceeding the limit 1000$/,
      1000,
    );
    expect(apply({ a: 'xyz' }, [{ op: 'copy', from: '/a', path: '/b' }], 5)).toEqual({ a: 'xyz', b: 'xyz' });
    fails(
      { a: 'xyz' },
      [{ op: 'copy', from: '/a', path: '/b' }],
      'the accumulated size increase of copy is 5, exceeding the limit 4',
      4,
    );
  });

  it('does not let one application change the decoded patch (conflict retries reapply it)', () => {
    const ops = [
      { op: 'add', path: '/x', value: {} },
      { op: 'add', path: '/x/y', value: 1 },
    ];
    apply({}, ops);
    expect(ops[0].value).toEqual({});
  });
});
