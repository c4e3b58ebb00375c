/**
 * Attacks on object-body decoding (issue 8, items 5, 12 and 14) against the real server on both
 * stores: tens of thousands of unknown fields (warnings must be linear and bounded like
 * k8s.io/apiserver's warning recorder), duplicate fields under fieldValidation, nesting deeper than
 * --max-nesting-depth in JSON, YAML and DeleteOptions, the YAML alias bomb, YAML !!set/!!omap, and
 * `__proto__` keys. Each asserts kube-apiserver's Status, that nothing was stored, and that the
 * server stayed responsive: a concurrent GET /readyz answers within RESPONSIVE_MS while the attack
 * request is processed, and RSS grows less than RSS_GROWTH_MB.
 */
import { ApiClient, widget, type ApiResponse } from '../support/api-client';
import { expectBounded as expectBoundedBy, underAttack, type AttackOutcome } from './under-attack';
import { startServerOnStore, type StoreKind, type TestServer } from '../support/widget-server';
import { DEFAULT_INPUT_LIMITS } from '../../src/widget-server/api/limits';

/**
 * A concurrent /readyz must answer within this while an attack request is being processed (before
 * the fixes: 75 s for 16,000 unknown fields). The largest attack here is a 1.1 MB body whose
 * decoding takes ~0.4 s on one core; the rest is headroom for a shared 2-core machine.
 */
const RESPONSIVE_MS = 1500;
/** Resident memory of the test process (server and client) may grow at most this much per attack. */
const RSS_GROWTH_MB = 200;
const DEPTH = DEFAULT_INPUT_LIMITS.maxNestingDepth;

/** Runs `attack` while polling /readyz (see under-attack.ts). */
function attackWhileProbing(api: ApiClient, attack: () => Promise<ApiResponse>) {
  return underAttack(async () => expect((await api.get('/readyz')).status).toBe(200), attack);
}

function expectBounded(r: AttackOutcome) {
  expectBoundedBy(r, RESPONSIVE_MS, RSS_GROWTH_MB);
}

function warningsOf(res: ApiResponse): string[] {
  const raw = res.headers.warning;
  if (raw === undefined) return [];
  // Node joins repeated headers with ", "; each value is `299 - "<text>"`.
  const text = Array.isArray(raw) ? raw.join(', ') : raw;
  return [...text.matchAll(/299 - "((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
}

function nested(depth: number, leaf: unknown = 1): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

/**
 * A Widget body nested `totalDepth` deep, as text (JSON.stringify itself overflows on the deepest):
 * the Widget object is level 1, spec level 2, and spec.deep adds the rest.
 */
function widgetNestedTo(name: string, totalDepth: number): string {
  const k = totalDepth - 2;
  return (
    `{"apiVersion":"custom.example.com/v1","kind":"Widget","metadata":{"name":"${name}"},` +
    `"spec":{"image":"nginx","replicas":1,"deep":${'{"a":'.repeat(k)}1${'}'.repeat(k)}}}`
  );
}

describe.each<StoreKind>(['memory', 'etcd'])('object-body decoding bounds on the %s store', (store) => {
  let server: TestServer;
  let api: ApiClient;
  const ns = `decode-${store}`;
  const base = `/apis/custom.example.com/v1/namespaces/${ns}/widgets`;
  const expectAbsent = async (name: string) => expect((await api.get(`${base}/${name}`)).status).toBe(404);

  beforeAll(async () => {
    server = await startServerOnStore(store, `decode-${store}`);
    api = new ApiClient(server);
  });
  afterAll(() => server?.close());

  const unknownSpec = (n: number) => {
    const spec: Record<string, number> = {};
    for (let i = 0; i < n; i++) spec[`f${i}`] = i;
    return spec;
  };

  it('answers 100,000 unknown fields (Warn) in linear time with warnings capped like kube-apiserver', async () => {
    // Serialized up front: the client shares this process and its own work must not count.
    const rawBody = JSON.stringify(widget('many-unknown', unknownSpec(100_000)));
    const r = await attackWhileProbing(api, () => api.request('POST', `${base}?dryRun=All`, { rawBody }));
    expect(r.res.status).toBe(201);
    expectBounded(r);
    const warnings = warningsOf(r.res);
    // The recorder writes whole texts until the 4096-rune total would be crossed, then truncates each
    // to 256 runes and stops adding once the total reaches 4096 runes.
    expect(warnings[0]).toBe('unknown field "spec.f0"');
    expect(warnings.length).toBeLessThan(300);
    const total = warnings.reduce((n, w) => n + Array.from(w).length, 0);
    expect(total).toBeLessThanOrEqual(4096 + 256);
    expect(total).toBeGreaterThan(4000);
    await expectAbsent('many-unknown');
  });

  it('refuses 16,000 unknown fields under fieldValidation=Strict with a 400 naming them', async () => {
    const rawBody = JSON.stringify(widget('strict-unknown', unknownSpec(16_000)));
    const r = await attackWhileProbing(api, () =>
      api.request('POST', `${base}?fieldValidation=Strict`, { rawBody }),
    );
    expectBounded(r);
    expect(r.res.status).toBe(400);
    expect(r.res.json).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    expect(r.res.json.message).toMatch(
      /^Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec\.f0", unknown field "spec\.f1", /,
    );
    await expectAbsent('strict-unknown');
  });

  it('reports duplicate JSON fields: an error in Strict, a warning in Warn, nothing in Ignore', async () => {
    const raw = (name: string) =>
      `{"apiVersion":"custom.example.com/v1","kind":"Widget","metadata":{"name":"${name}"},` +
      `"spec":{"image":"nginx","replicas":1,"replicas":2}}`;
    const strict = await api.request('POST', `${base}?fieldValidation=Strict`, { rawBody: raw('dup-s') });
    expect(strict.status).toBe(400);
    expect(strict.json.message).toBe(
      'Widget in version "v1" cannot be handled as a Widget: strict decoding error: duplicate field "spec.replicas"',
    );
    await expectAbsent('dup-s');
    const warn = await api.request('POST', base, { rawBody: raw('dup-w') });
    expect(warn.status).toBe(201);
    expect(warningsOf(warn)).toEqual(['duplicate field "spec.replicas"']);
    // The last value wins, as in encoding/json.
    expect(warn.json.spec.replicas).toBe(2);
    const ignore = await api.request('POST', `${base}?fieldValidation=Ignore`, { rawBody: raw('dup-i') });
    expect(ignore.status).toBe(201);
    expect(warningsOf(ignore)).toEqual([]);
  });

  it('reports YAML keys set twice as YAMLToJSONStrict does, by line', async () => {
    const yaml = (name: string) =>
      `apiVersion: custom.example.com/v1\nkind: Widget\nmetadata:\n  name: ${name}\nspec:\n` +
      `  image: nginx\n  replicas: 1\n  bogus: 1\n  replicas: 3\n`;
    const post = (query: string, name: string) =>
      api.request('POST', `${base}${query}`, { rawBody: yaml(name), contentType: 'application/yaml' });
    const strict = await post('?fieldValidation=Strict', 'ydup-s');
    expect(strict.status).toBe(400);
    expect(strict.json.message).toBe(
      'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus", ' +
        'error converting YAML to JSON: yaml: unmarshal errors:\n  line 9: key "replicas" already set in map',
    );
    await expectAbsent('ydup-s');
    const warn = await post('', 'ydup-w');
    expect(warn.status).toBe(201);
    expect(warningsOf(warn)).toEqual([
      'unknown field "spec.bogus"',
      'line 9: key "replicas" already set in map',
    ]);
    expect(warn.json.spec.replicas).toBe(3);
    const ignore = await post('?fieldValidation=Ignore', 'ydup-i');
    expect(ignore.status).toBe(201);
    expect(warningsOf(ignore)).toEqual([]);
  });

  it('sends non-ASCII field names in warnings escaped (QuoteToASCII) instead of failing', async () => {
    const res = await api.post(`${base}?dryRun=All`, widget('utf8', { 'größe-日本': 1 }));
    expect(res.status).toBe(201);
    expect(res.headers.warning).toBe('299 - "unknown field \\"spec.gr\\u00f6\\u00dfe-\\u65e5\\u672c\\""');
    expect(warningsOf(res)).toEqual(['unknown field "spec.größe-日本"']);
  });

  it(`accepts JSON nested ${DEPTH} deep and refuses ${DEPTH + 1} with 400 before any recursion`, async () => {
    const ok = await api.request('POST', `${base}?dryRun=All`, {
      rawBody: widgetNestedTo('deep-ok', DEPTH),
    });
    expect(ok.status).toBe(201);
    expect(warningsOf(ok)).toEqual(['unknown field "spec.deep"']);
    for (const depth of [DEPTH + 1, 500_000]) {
      const rawBody = widgetNestedTo('deep', depth);
      const r = await attackWhileProbing(api, () => api.request('POST', base, { rawBody }));
      expectBounded(r);
      expect(r.res.status).toBe(400);
      expect(r.res.json).toMatchObject({
        kind: 'Status',
        reason: 'BadRequest',
        message: `the body of the request could not be decoded as JSON: invalid character '{' exceeded max depth`,
      });
    }
    await expectAbsent('deep');
  });

  it(`accepts YAML nested ${DEPTH} deep (block and flow), inside the yaml package's stack`, async () => {
    const head = 'apiVersion: custom.example.com/v1\nkind: Widget\nmetadata:\n  name: yaml-ok\n';
    // The root mapping is level 1 and spec's value level 2.
    const block =
      `${head}spec:\n  image: nginx\n` +
      Array.from({ length: DEPTH - 1 }, (_, i) => `${' '.repeat(i + 2)}a:`).join('\n') +
      ' 1\n';
    const flow = `${head}spec: {image: nginx, a: ${'['.repeat(DEPTH - 2)}${']'.repeat(DEPTH - 2)}}\n`;
    for (const text of [block, flow]) {
      const res = await api.request('POST', `${base}?dryRun=All`, {
        rawBody: text,
        contentType: 'application/yaml',
      });
      expect(res.status).toBe(201);
      expect(warningsOf(res)).toEqual(['unknown field "spec.a"']);
    }
  });

  it('refuses deeply nested YAML (block and flow) with 400', async () => {
    const block =
      'apiVersion: custom.example.com/v1\nkind: Widget\nmetadata:\n  name: deep-yaml\nspec:\n' +
      Array.from({ length: DEPTH }, (_, i) => `${' '.repeat(i + 2)}a:`).join('\n') +
      ' 1\n';
    const flow = `apiVersion: custom.example.com/v1\nkind: Widget\nmetadata: {name: deep-yaml}\nspec: {a: ${'['.repeat(50_000)}${']'.repeat(50_000)}}\n`;
    for (const text of [block, flow]) {
      const r = await attackWhileProbing(api, () =>
        api.request('POST', base, { rawBody: text, contentType: 'application/yaml' }),
      );
      expectBounded(r);
      expect(r.res.status).toBe(400);
      expect(r.res.json.message).toBe(
        `the body of the request could not be decoded as YAML: yaml: exceeded max depth of ${DEPTH}`,
      );
    }
    await expectAbsent('deep-yaml');
  });

  it('refuses the YAML alias bomb with 400 "excessive aliasing"', async () => {
    const levels = 'abcdefghi'.split('');
    let text = `apiVersion: custom.example.com/v1\nkind: Widget\nmetadata: {name: bomb}\nspec:\n  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`;
    for (let i = 1; i < levels.length; i++) {
      const prev = levels[i - 1];
      text += `  ${levels[i]}: &${levels[i]} [${Array(9).fill(`*${prev}`).join(',')}]\n`;
    }
    const r = await attackWhileProbing(api, () =>
      api.request('POST', base, { rawBody: text, contentType: 'application/yaml' }),
    );
    expectBounded(r);
    expect(r.res.status).toBe(400);
    expect(r.res.json.message).toBe(
      'the body of the request could not be decoded as YAML: yaml: document contains excessive aliasing',
    );
    await expectAbsent('bomb');
  });

  it('decodes YAML !!set as a mapping and !!omap as a sequence of mappings, as sigs.k8s.io/yaml does', async () => {
    const set = await api.request('POST', base, {
      rawBody: `apiVersion: custom.example.com/v1\nkind: Widget\nmetadata:\n  name: set\n  labels: !!set {a, b}\nspec: {image: nginx, replicas: 1}\n`,
      contentType: 'application/yaml',
    });
    // A null map element decodes to the zero value: labels a="" and b="".
    expect(set.status).toBe(201);
    expect(set.json.metadata.labels).toEqual({ a: '', b: '' });
    const omap = await api.request('POST', base, {
      rawBody: `apiVersion: custom.example.com/v1\nkind: Widget\nmetadata:\n  name: omap\n  labels: !!omap [a: x, b: y]\nspec: {image: nginx, replicas: 1}\n`,
      contentType: 'application/yaml',
    });
    expect(omap.status).toBe(400);
    expect(omap.json.message).toBe(
      'Widget in version "v1" cannot be handled as a Widget: json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string',
    );
    await expectAbsent('omap');
  });

  it('keeps __proto__ label and annotation keys so validation refuses them with 422', async () => {
    for (const field of ['labels', 'annotations']) {
      const raw =
        `{"apiVersion":"custom.example.com/v1","kind":"Widget","metadata":{"name":"proto-${field}",` +
        `"${field}":{"__proto__":"x","ok":"y"}},"spec":{"image":"nginx","replicas":1}}`;
      const res = await api.request('POST', base, { rawBody: raw });
      expect(res.status).toBe(422);
      expect(res.json).toMatchObject({ reason: 'Invalid', code: 422 });
      expect(res.json.message).toContain(`metadata.${field}: Invalid value: "__proto__"`);
      await expectAbsent(`proto-${field}`);
    }
    // A top-level __proto__ is an unknown field like any other, and pollutes nothing.
    const top = await api.request('POST', `${base}?dryRun=All`, {
      rawBody: `{"apiVersion":"custom.example.com/v1","kind":"Widget","metadata":{"name":"p"},"spec":{"image":"nginx","replicas":1},"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}`,
    });
    expect(top.status).toBe(201);
    expect(warningsOf(top)).toEqual(['unknown field "__proto__"', 'unknown field "constructor"']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('bounds DeleteOptions bodies the same way', async () => {
    expect((await api.post(base, widget('victim'))).status).toBe(201);
    const deep = { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: nested(DEPTH + 5) };
    const res = await api.delete(`${base}/victim`, deep);
    expect(res.status).toBe(400);
    expect(res.json.message).toBe(
      `the body of the request could not be decoded as JSON: invalid character '{' exceeded max depth`,
    );
    expect((await api.get(`${base}/victim`)).status).toBe(200);
  });
});
