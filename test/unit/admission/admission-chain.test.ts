/**
 * The admission seam: the chain's order (every mutating plugin, then every validating one, each filtered
 * by the operations it handles, the first refusal ending the request) and where the registry calls it for
 * each write, with which attributes, on the embedded store: create (mutating before validation, name
 * generated before validating admission), update, patch, the status and scale subresources, delete, and
 * dry runs, refusals leaving nothing stored.
 */
import { ApiError } from '../../../src/shared/status-errors';
import {
  AdmissionChain,
  admissionForbidden,
  type AdmissionAttributes,
  type AdmissionPlugin,
  type Operation,
} from '../../../src/widget-server/admission/admission';
import { DEFAULT_GROUP, VERSION, type Widget } from '../../../src/widget-server/api/types';
import { WidgetRegistry, type WriteOptions } from '../../../src/widget-server/registry/widget-registry';
import { MemoryStorage } from '../../../src/widget-server/storage/memory';

type Call = { plugin: string; phase: 'admit' | 'validate'; attributes: AdmissionAttributes };

/** A plugin that records what it sees (a deep copy, as it was at that moment) and can refuse. */
function recorder(
  name: string,
  calls: Call[],
  opts: {
    ops?: Operation[];
    mutating?: boolean;
    validating?: boolean;
    refuse?: (a: AdmissionAttributes) => boolean;
  } = {},
): AdmissionPlugin {
  const { ops = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'], mutating = true, validating = true } = opts;
  const record = (phase: Call['phase']) => async (a: AdmissionAttributes) => {
    // What the plugin was given, as data (the version converters and reinvocation state are not).
    const { versioned: _converter, fromVersioned: _back, reinvocation: _state, ...data } = a;
    calls.push({ plugin: name, phase, attributes: structuredClone(data) });
    if (opts.refuse?.(a)) throw admissionForbidden(a, `refused by ${name}`);
  };
  const plugin: AdmissionPlugin = { name, handles: (op) => ops.includes(op) };
  if (mutating) plugin.admit = record('admit');
  if (validating) plugin.validate = record('validate');
  return plugin;
}

const attributes = (operation: Operation): AdmissionAttributes => ({
  operation,
  kind: { group: DEFAULT_GROUP, version: VERSION, kind: 'Widget' },
  resource: { group: DEFAULT_GROUP, version: VERSION, resource: 'widgets' },
  subresource: '',
  namespace: 'ns',
  name: 'w',
  dryRun: false,
});

describe('AdmissionChain', () => {
  test('mutating plugins all run, in order, before any validating plugin', async () => {
    const calls: Call[] = [];
    const chain = new AdmissionChain([
      recorder('a', calls),
      recorder('b', calls, { validating: false }),
      recorder('c', calls, { mutating: false }),
    ]);
    await chain.run(attributes('CREATE'));
    expect(calls.map((c) => `${c.phase}:${c.plugin}`)).toEqual([
      'admit:a',
      'admit:b',
      'validate:a',
      'validate:c',
    ]);
  });

  test('a plugin sees only the operations it handles', async () => {
    const calls: Call[] = [];
    const chain = new AdmissionChain([
      recorder('createOnly', calls, { ops: ['CREATE'] }),
      recorder('all', calls),
    ]);
    await chain.run(attributes('DELETE'));
    expect(calls.map((c) => c.plugin)).toEqual(['all', 'all']);
  });

  test('the first refusal ends the chain with its Status', async () => {
    const calls: Call[] = [];
    const chain = new AdmissionChain([
      recorder('first', calls),
      recorder('refuser', calls, { refuse: () => true }),
      recorder('never', calls),
    ]);
    const err = await chain.run(attributes('UPDATE')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).toStatus()).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message: `widgets.${DEFAULT_GROUP} "w" is forbidden: refused by refuser`,
      details: { name: 'w', group: DEFAULT_GROUP, kind: 'widgets' },
    });
    expect(calls.map((c) => `${c.phase}:${c.plugin}`)).toEqual(['admit:first', 'admit:refuser']);
  });

  test("each phase and plugin is timed under kube-apiserver's metric labels, refusals marked", async () => {
    const observed: string[] = [];
    const chain = new AdmissionChain(
      [recorder('first', [], {}), recorder('refuser', [], { refuse: (a) => a.operation === 'DELETE' })],
      {
        step: (type, operation, rejected) => observed.push(`step ${type} ${operation} ${rejected}`),
        controller: (name, type, operation, rejected) =>
          observed.push(`${name} ${type} ${operation} ${rejected}`),
        webhook: () => undefined,
        webhookFailOpen: () => undefined,
      },
    );
    await chain.run(attributes('UPDATE'));
    await chain.run(attributes('DELETE')).catch(() => undefined);
    expect(observed).toEqual([
      'first admit UPDATE false',
      'refuser admit UPDATE false',
      'step admit UPDATE false',
      'first validate UPDATE false',
      'refuser validate UPDATE false',
      'step validate UPDATE false',
      'first admit DELETE false',
      'refuser admit DELETE true',
      'step admit DELETE true',
    ]);
  });

  test('the refusal names the object by generateName when the name is not generated yet', () => {
    const a = { ...attributes('CREATE'), name: '', object: { metadata: { generateName: 'gen-' } } };
    expect(admissionForbidden(a, 'no').message).toBe(`widgets.${DEFAULT_GROUP} "gen-" is forbidden: no`);
  });
});

describe('the registry calls admission on every write', () => {
  const opts: WriteOptions = {
    dryRun: false,
    fieldValidation: 'Strict',
    user: { name: 'alice', groups: ['devs'] },
  };
  let calls: Call[];
  let refuse: ((a: AdmissionAttributes) => boolean) | undefined;
  let registry: WidgetRegistry;
  let storage: MemoryStorage;

  beforeEach(() => {
    calls = [];
    refuse = undefined;
    storage = new MemoryStorage();
    registry = new WidgetRegistry(storage, {
      identity: { group: DEFAULT_GROUP, version: VERSION },
      admission: new AdmissionChain([recorder('rec', calls, { refuse: (a) => refuse?.(a) ?? false })]),
    });
  });
  afterEach(async () => {
    await storage.close();
  });

  const body = (extra: Record<string, unknown> = {}) => ({
    apiVersion: `${DEFAULT_GROUP}/${VERSION}`,
    kind: 'Widget',
    metadata: { generateName: 'w-' },
    spec: { image: 'nginx:1', replicas: 2 },
    ...extra,
  });

  test('create: mutating admission sees the decoded, defaulted object before validation and naming', async () => {
    const created = await registry.create('ns', body(), opts);
    const [admit, validate] = calls;
    expect(calls.map((c) => c.phase)).toEqual(['admit', 'validate']);
    expect(admit.attributes).toMatchObject({
      operation: 'CREATE',
      kind: { group: DEFAULT_GROUP, version: VERSION, kind: 'Widget' },
      resource: { group: DEFAULT_GROUP, version: VERSION, resource: 'widgets' },
      subresource: '',
      namespace: 'ns',
      name: '',
      dryRun: false,
      userInfo: { name: 'alice', groups: ['devs'] },
    });
    // Defaulted (color), not yet given system metadata.
    expect(admit.attributes.object).toMatchObject({ spec: { replicas: 2, color: 'blue' } });
    expect((admit.attributes.object as unknown as Widget).metadata.uid).toBeUndefined();
    // Validating admission sees the object as stored: generated name, uid, status.
    expect(validate.attributes.name).toBe(created.object.metadata.name);
    expect(validate.attributes.object).toMatchObject({
      metadata: { name: created.object.metadata.name, uid: created.object.metadata.uid },
      status: { phase: 'Pending' },
    });
    expect(admit.attributes.oldObject).toBeUndefined();
  });

  test('create: a refusal comes before validation errors and stores nothing, dry run or not', async () => {
    refuse = (a) => a.operation === 'CREATE';
    const invalidBody = body({ metadata: { name: 'bad' }, spec: { image: 'nginx:1', replicas: -1 } });
    for (const dryRun of [false, true]) {
      const err = await registry.create('ns', invalidBody, { ...opts, dryRun }).catch((e: unknown) => e);
      expect((err as ApiError).code).toBe(403);
    }
    expect(calls.map((c) => c.attributes.dryRun)).toEqual([false, true]);
    expect((await registry.list('ns', { watch: false, allowWatchBookmarks: false })).items).toHaveLength(0);
  });

  test('update, patch, status, scale and delete are admitted with their operation, objects and subresource', async () => {
    const w = (await registry.create('ns', body({ metadata: { name: 'w1' } }), opts)).object;
    calls.length = 0;
    const updated = await registry.update('ns', 'w1', { ...w, spec: { ...w.spec, replicas: 3 } }, opts);
    await registry.patch('ns', 'w1', 'application/merge-patch+json', '{"spec":{"replicas":4}}', opts);
    await registry.patch(
      'ns',
      'w1',
      'application/merge-patch+json',
      '{"status":{"phase":"Running"}}',
      { ...opts, dryRun: true },
      'status',
    );
    await registry.patchScale('ns', 'w1', 'application/merge-patch+json', '{"spec":{"replicas":5}}', opts);
    await registry.delete('ns', 'w1', {}, opts);
    const seen = calls
      .filter((c) => c.phase === 'admit')
      .map((c) => ({
        op: c.attributes.operation,
        sub: c.attributes.subresource,
        kind: c.attributes.kind.kind,
        name: c.attributes.name,
        dryRun: c.attributes.dryRun,
      }));
    expect(seen).toEqual([
      { op: 'UPDATE', sub: '', kind: 'Widget', name: 'w1', dryRun: false },
      { op: 'UPDATE', sub: '', kind: 'Widget', name: 'w1', dryRun: false },
      { op: 'UPDATE', sub: 'status', kind: 'Widget', name: 'w1', dryRun: true },
      { op: 'UPDATE', sub: 'scale', kind: 'Scale', name: 'w1', dryRun: false },
      { op: 'DELETE', sub: '', kind: 'Widget', name: 'w1', dryRun: false },
    ]);
    const admits = calls.filter((c) => c.phase === 'admit');
    expect(admits[0].attributes.object).toMatchObject({ spec: { replicas: 3 } });
    expect(admits[0].attributes.oldObject).toMatchObject({ spec: { replicas: 2 } });
    expect(admits[3].attributes.object).toMatchObject({ kind: 'Scale', spec: { replicas: 5 } });
    expect(admits[4].attributes.object).toBeUndefined();
    expect(admits[4].attributes.oldObject).toMatchObject({
      metadata: { name: 'w1', resourceVersion: expect.any(String) },
    });
    expect(updated.object.spec.replicas).toBe(3);
  });

  test('a refused update or delete changes nothing', async () => {
    await registry.create('ns', body({ metadata: { name: 'w2' } }), opts);
    refuse = (a) => a.operation !== 'CREATE';
    const patchErr = await registry
      .patch('ns', 'w2', 'application/merge-patch+json', '{"spec":{"replicas":9}}', opts)
      .catch((e: unknown) => e);
    expect((patchErr as ApiError).code).toBe(403);
    const deleteErr = await registry.delete('ns', 'w2', {}, opts).catch((e: unknown) => e);
    expect((deleteErr as ApiError).code).toBe(403);
    expect((await registry.get('ns', 'w2')).spec.replicas).toBe(2);
  });
});
