/**
 * Writes that race another writer, as GuaranteedUpdate resolves them: the embedded store is wrapped so
 * that another write to the same object lands between each request's read and its write. A patch that
 * names no resourceVersion is applied again to the fresh object and succeeds (a controller writing the
 * status must not make a client's merge patch fail); a PUT, or a patch that names the resourceVersion it
 * read, gets 409 Conflict; a Scale patch behaves like a patch.
 */
import { ApiError } from '../../../src/shared/status-errors';
import { DEFAULT_GROUP, type Widget } from '../../../src/widget-server/api/types';
import { WidgetRegistry, type WriteOptions } from '../../../src/widget-server/registry/widget-registry';
import { MemoryStorage } from '../../../src/widget-server/storage/memory';
import type { JsonObject } from '../../../src/widget-server/storage/storage';

/** Before the next `update`, someone else changes the same object's status once. */
class RacingStorage extends MemoryStorage {
  raceNext = false;
  races = 0;

  override async update(key: string, value: JsonObject, expectedModRevision: number): Promise<number> {
    if (this.raceNext) {
      this.raceNext = false;
      this.races++;
      const current = (await this.get(key))!;
      const other = structuredClone(current.value) as { status?: { phase?: string } };
      other.status = { ...other.status, phase: 'Running' };
      await super.update(key, other as JsonObject, current.modRevision);
    }
    return super.update(key, value, expectedModRevision);
  }
}

const opts: WriteOptions = { dryRun: false, fieldValidation: 'Strict', user: { name: 'alice', groups: [] } };
let storage: RacingStorage;
let registry: WidgetRegistry;
let created: Widget;

beforeEach(async () => {
  storage = new RacingStorage();
  registry = new WidgetRegistry(storage, { identity: { group: DEFAULT_GROUP, version: 'v1' } });
  created = (
    await registry.create(
      'ns',
      {
        apiVersion: `${DEFAULT_GROUP}/v1`,
        kind: 'Widget',
        metadata: { name: 'w1' },
        spec: { image: 'nginx:1', replicas: 1 },
      },
      opts,
    )
  ).object;
});
afterEach(() => storage.close());

const conflictOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => (e instanceof ApiError ? e.code : e),
  );

test('a merge patch that names no resourceVersion is applied again to the fresh object', async () => {
  storage.raceNext = true;
  const patched = await registry.patch(
    'ns',
    'w1',
    'application/merge-patch+json',
    '{"spec":{"replicas":2}}',
    opts,
  );
  expect(storage.races).toBe(1);
  // Both writes are there: the patch's and the other writer's.
  expect(patched.object.spec.replicas).toBe(2);
  expect(patched.object.status?.phase).toBe('Running');
});

test('a PUT of what was read, and a patch naming the resourceVersion read, get 409 once another write landed', async () => {
  storage.raceNext = true;
  expect(
    await conflictOf(
      registry.update('ns', 'w1', { ...created, spec: { ...created.spec, replicas: 3 } }, opts),
    ),
  ).toBe(409);
  const current = await registry.get('ns', 'w1');
  storage.raceNext = true;
  const named = JSON.stringify({
    metadata: { resourceVersion: current.metadata.resourceVersion },
    spec: { replicas: 4 },
  });
  expect(await conflictOf(registry.patch('ns', 'w1', 'application/merge-patch+json', named, opts))).toBe(409);
  expect((await registry.get('ns', 'w1')).spec.replicas).toBe(1);
});

test('a Scale patch is applied again to the fresh object too', async () => {
  storage.raceNext = true;
  const scale = await registry.patchScale(
    'ns',
    'w1',
    'application/merge-patch+json',
    '{"spec":{"replicas":5}}',
    opts,
  );
  expect(storage.races).toBe(1);
  expect(scale.object.spec.replicas).toBe(5);
  expect((await registry.get('ns', 'w1')).status?.phase).toBe('Running');
});
