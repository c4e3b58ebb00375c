/**
 * Adding a kind is a folder and one line in the map (docs/adding-a-kind.md): a server given the Gadget
 * kind of test/support/gadgets beside Widget serves it through everything generic, checked with the
 * real kubectl: discovery, OpenAPI (kubectl explain), strict decoding with defaults, the table, field
 * selectors limited to the kind's selectable fields, the status subresource, watch, and no scale.
 */
import { kubectl, kubectlOk, kubectlWatch } from '../support/kubectl';
import { startTestServer, type TestServer } from '../support/widget-server';
import { gadgetKind } from '../support/gadgets';
import { KINDS } from '../../src/widget-server/apis';

jest.setTimeout(120000);

const GROUP = 'custom.example.com';
const gadget = (name: string, extra = '') => `apiVersion: ${GROUP}/v1
kind: Gadget
metadata:
  name: ${name}
spec:
  label: shiny
${extra}`;

let server: TestServer;
let kc: string;

beforeAll(async () => {
  server = await startTestServer({ kinds: [...KINDS, gadgetKind] });
  kc = server.kubeconfig;
});

afterAll(async () => {
  await server?.close();
});

test('discovery lists gadgets beside widgets, with the status subresource and no scale', async () => {
  const resources = await kubectlOk(kc, ['api-resources', `--api-group=${GROUP}`, '--no-headers']);
  expect(resources).toMatch(new RegExp(`^gadgets\\s+gd\\s+${GROUP}/v1\\s+true\\s+Gadget`, 'm'));
  expect(resources).toMatch(new RegExp(`^widgets\\s+wg\\s+${GROUP}/v1\\s+true\\s+Widget`, 'm'));
  const list = JSON.parse(await kubectlOk(kc, ['get', '--raw', `/apis/${GROUP}/v1`]));
  const names = list.resources.map((r: { name: string }) => r.name);
  expect(names).toEqual(expect.arrayContaining(['gadgets', 'gadgets/status', 'widgets', 'widgets/scale']));
  expect(names).not.toContain('gadgets/scale');
  // Gadget has v1 only: the other versions list widgets alone.
  const alpha = JSON.parse(await kubectlOk(kc, ['get', '--raw', `/apis/${GROUP}/v1alpha1`]));
  expect(alpha.resources.map((r: { name: string }) => r.name)).not.toContain('gadgets');
});

test('create with strict decoding and defaults, then the table and explain', async () => {
  expect(await kubectlOk(kc, ['create', '--validate=strict', '-f', '-'], gadget('g1'))).toMatch(
    /gadget.custom.example.com\/g1 created/,
  );
  expect(await kubectlOk(kc, ['get', 'gadget', 'g1', '-o', 'jsonpath={.spec.size} {.status.ready}'])).toBe(
    '1 false',
  );
  const wrong = await kubectl(
    kc,
    ['create', '--validate=strict', '-f', '-'],
    gadget('g2', '  replicas: 2\n'),
  );
  expect(wrong.stderr).toMatch(/unknown field "spec.replicas"/);
  const tooBig = await kubectl(kc, ['create', '-f', '-'], gadget('g3', '  size: 11\n'));
  expect(tooBig.stderr).toMatch(/spec.size: Invalid value: 11: must be less than or equal to 10/);
  const table = await kubectlOk(kc, ['get', 'gadgets']);
  expect(table).toMatch(/^NAME\s+SIZE\s+AGE$/m);
  expect(table).toMatch(/^g1\s+1\s+\d+s$/m);
  const explained = await kubectlOk(kc, ['explain', 'gadgets.spec']);
  expect(explained).toMatch(/^\s+size\s+<integer>/m);
  expect(explained).toMatch(/Size of the Gadget, 1 to 10/);
});

test("field selectors are the kind's own; status is its own subresource; watch sees changes; no scale", async () => {
  expect(await kubectlOk(kc, ['get', 'gadgets', '--field-selector', 'metadata.name=g1', '-o', 'name'])).toBe(
    'gadget.custom.example.com/g1\n',
  );
  const phase = await kubectl(kc, ['get', 'gadgets', '--field-selector', 'status.phase=Pending']);
  expect(phase.stderr).toMatch(/field label not supported: status.phase/);
  const watch = kubectlWatch(kc, [
    'get',
    'gadgets',
    '-w',
    '-o',
    'jsonpath={.metadata.name} {.status.ready}{"\\n"}',
  ]);
  try {
    await watch.waitFor(/^g1 false$/);
    await kubectlOk(kc, [
      'patch',
      'gadget',
      'g1',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"ready":true}}',
    ]);
    await watch.waitFor(/^g1 true$/);
  } finally {
    watch.stop();
  }
  // A main-resource write cannot change status.
  await kubectlOk(kc, [
    'patch',
    'gadget',
    'g1',
    '--type=merge',
    '-p',
    '{"status":{"ready":false},"spec":{"size":3}}',
  ]);
  expect(
    await kubectlOk(kc, [
      'get',
      'gadget',
      'g1',
      '-o',
      'jsonpath={.spec.size} {.status.ready} {.metadata.generation}',
    ]),
  ).toBe('3 true 2');
  const scale = await kubectl(kc, ['scale', 'gadget', 'g1', '--replicas=2']);
  expect(scale.code).not.toBe(0);
});
