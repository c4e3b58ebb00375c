/**
 * Conversion between the Widget's versions and the hub is lossless: for every version, hub -> version
 * -> hub gives the object back, and so does every pair of versions through the hub (property tests).
 */
import fc from 'fast-check';
import { WidgetCodec } from '../../../src/widget-server/api/codec';
import { WIDGET_VERSION_NAMES } from '../../../src/widget-server/apis/widgets';
import { COLOR_ANNOTATION } from '../../../src/widget-server/apis/widgets/v1alpha1';
import { WIDGET_COLORS, WIDGET_PHASES, type Widget } from '../../../src/widget-server/api/types';

const GROUP = 'custom.example.com';
const codecs = Object.fromEntries(WIDGET_VERSION_NAMES.map((v) => [v, new WidgetCodec(GROUP, v)]));

const key = fc.stringMatching(/^[a-z]([a-z0-9.-]{0,10}[a-z0-9])?$/);
const labels = fc.dictionary(key, fc.stringMatching(/^[A-Za-z0-9]{0,8}$/), { maxKeys: 3 });
// Any annotation but the one conversion reserves for spec.color.
const annotations = fc.dictionary(
  key.filter((k) => k !== COLOR_ANNOTATION),
  fc.string({ maxLength: 12 }),
  { maxKeys: 3 },
);

/** Hub Widgets as the registry holds them: defaulted (replicas and color always set). */
const hubWidget: fc.Arbitrary<Widget> = fc
  .record(
    {
      name: key,
      labels,
      annotations,
      image: fc.constantFrom('nginx:1.27', 'registry.example.com/a/b@sha256:' + '0'.repeat(64)),
      replicas: fc.integer({ min: 0, max: 100 }),
      color: fc.constantFrom(...WIDGET_COLORS),
      phase: fc.constantFrom(...WIDGET_PHASES),
      available: fc.integer({ min: 0, max: 100 }),
      withStatus: fc.boolean(),
    },
    { requiredKeys: ['name', 'image', 'replicas', 'color', 'phase', 'available', 'withStatus'] },
  )
  .map((r) => {
    const w: Widget = {
      apiVersion: `${GROUP}/v1`,
      kind: 'Widget',
      metadata: { name: r.name, namespace: 'default', uid: 'u-1', resourceVersion: '7', generation: 2 },
      spec: { image: r.image, replicas: r.replicas, color: r.color },
    };
    if (r.labels && Object.keys(r.labels).length) w.metadata.labels = r.labels;
    if (r.annotations && Object.keys(r.annotations).length) w.metadata.annotations = r.annotations;
    if (r.withStatus) w.status = { phase: r.phase, availableReplicas: r.available };
    return w;
  });

/** What a client of that version sends back: the encoded object, as JSON. */
const asSent = (o: unknown) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>;

describe('Widget conversion', () => {
  test.each(WIDGET_VERSION_NAMES)('hub -> %s -> hub is lossless', (version) => {
    const codec = codecs[version];
    fc.assert(
      fc.property(hubWidget, (w) => {
        const encoded = codec.encode(w);
        expect(encoded.apiVersion).toBe(`${GROUP}/${version}`);
        expect(codec.toHub(asSent(encoded))).toEqual(w);
      }),
      { numRuns: 300 },
    );
  });

  const pairs = WIDGET_VERSION_NAMES.flatMap((a) => WIDGET_VERSION_NAMES.map((b) => [a, b] as const));
  test.each(pairs)('%s -> hub -> %s -> hub is lossless', (a, b) => {
    fc.assert(
      fc.property(hubWidget, (w) => {
        const viaA = codecs[a].toHub(asSent(codecs[a].encode(w)));
        const viaB = codecs[b].toHub(asSent(codecs[b].encode(viaA)));
        expect(viaB).toEqual(w);
      }),
      { numRuns: 100 },
    );
  });

  test('v1alpha1 says size for replicas and carries color in an annotation', () => {
    const w: Widget = {
      apiVersion: `${GROUP}/v1`,
      kind: 'Widget',
      metadata: { name: 'a', namespace: 'default' },
      spec: { image: 'nginx', replicas: 3, color: 'red' },
    };
    const alpha = codecs.v1alpha1.encode(w) as unknown as Record<string, Record<string, unknown>>;
    expect(alpha.spec).toEqual({ image: 'nginx', size: 3 });
    expect(alpha.metadata.annotations).toEqual({ [COLOR_ANNOTATION]: 'red' });
    // The hub object itself is untouched.
    expect(w.spec).toEqual({ image: 'nginx', replicas: 3, color: 'red' });
    expect(w.metadata.annotations).toBeUndefined();
  });

  test('a v1alpha1 object without the annotation gets the default color; its size defaults to 1', () => {
    const hub = codecs.v1alpha1.decode(
      { apiVersion: `${GROUP}/v1alpha1`, kind: 'Widget', metadata: { name: 'a' }, spec: { image: 'nginx' } },
      { fieldValidation: 'Strict' },
    ).object;
    expect(hub.spec).toEqual({ image: 'nginx', replicas: 1 });
    expect(hub.apiVersion).toBe(`${GROUP}/v1`);
  });

  test('v1alpha1 has no replicas or color field, v1 no size: strict decoding names them', () => {
    expect(() =>
      codecs.v1alpha1.decode(
        {
          apiVersion: `${GROUP}/v1alpha1`,
          kind: 'Widget',
          metadata: { name: 'a' },
          spec: { image: 'nginx', replicas: 2, color: 'red' },
        },
        { fieldValidation: 'Strict' },
      ),
    ).toThrow(/strict decoding error: unknown field "spec.replicas", unknown field "spec.color"/);
    expect(() =>
      codecs.v1.decode(
        { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'a' }, spec: { image: 'x', size: 2 } },
        { fieldValidation: 'Strict' },
      ),
    ).toThrow(/unknown field "spec.size"/);
  });

  test("type errors name the version's Go types", () => {
    expect(() =>
      codecs.v1alpha1.decode(
        {
          apiVersion: `${GROUP}/v1alpha1`,
          kind: 'Widget',
          metadata: { name: 'a' },
          spec: { image: 'x', size: 'two' },
        },
        { fieldValidation: 'Strict' },
      ),
    ).toThrow(
      'Widget in version "v1alpha1" cannot be handled as a Widget: json: cannot unmarshal string into Go struct field WidgetSpec.spec.size of type int32',
    );
  });
});
