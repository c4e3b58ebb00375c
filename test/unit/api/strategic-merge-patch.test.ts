/**
 * Strategic merge patch on the Widget schema, including the patches kube-controller-manager's garbage
 * collector sends.
 */
import { ApiError } from '../../../src/shared/status-errors';
import { strategicMergePatch } from '../../../src/widget-server/api/strategic-merge-patch';

type Json = Record<string, unknown>;

const original: Json = {
  apiVersion: 'custom.example.com/v1',
  kind: 'Widget',
  metadata: {
    name: 'w',
    uid: 'Y',
    finalizers: ['foregroundDeletion', 'example.com/keep'],
    ownerReferences: [
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'a', uid: 'X' },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'b', uid: 'Z' },
    ],
    labels: { a: '1', b: '2' },
  },
  spec: { image: 'nginx', replicas: 1 },
  status: {
    conditions: [
      { type: 'Ready', status: 'False', reason: 'Starting' },
      { type: 'Synced', status: 'True', reason: 'Ok' },
    ],
  },
};

function patch(p: Json): Json {
  const before = structuredClone(original);
  const out = strategicMergePatch(structuredClone(original), p);
  expect(original).toEqual(before);
  return out;
}
const meta = (o: Json) => o.metadata as Json;
const status = (o: Json) => o.status as Json;

function thrown(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
}

describe('garbage collector patches', () => {
  test('removing one ownerReference by uid, with the uid precondition in metadata', () => {
    const out = patch({ metadata: { ownerReferences: [{ $patch: 'delete', uid: 'X' }], uid: 'Y' } });
    expect(meta(out).ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'b', uid: 'Z' }]);
    expect(meta(out).uid).toBe('Y');
    expect(meta(out).finalizers).toEqual(meta(original).finalizers);
  });

  test('removing an ownerReference that is already gone changes nothing', () => {
    const out = patch({ metadata: { ownerReferences: [{ $patch: 'delete', uid: 'nope' }], uid: 'Y' } });
    expect(meta(out).ownerReferences).toEqual(meta(original).ownerReferences);
  });

  test('removing the foregroundDeletion finalizer', () => {
    const out = patch({ metadata: { '$deleteFromPrimitiveList/finalizers': ['foregroundDeletion'] } });
    expect(meta(out).finalizers).toEqual(['example.com/keep']);
  });

  test('removing the last finalizer drops the field', () => {
    const out = patch({
      metadata: { '$deleteFromPrimitiveList/finalizers': ['foregroundDeletion', 'example.com/keep'] },
    });
    expect('finalizers' in meta(out)).toBe(false);
  });

  test('the blockOwnerDeletion patch merges into the existing reference', () => {
    const out = patch({ metadata: { ownerReferences: [{ uid: 'Z', blockOwnerDeletion: false }], uid: 'Y' } });
    expect(meta(out).ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'a', uid: 'X' },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'b', uid: 'Z', blockOwnerDeletion: false },
    ]);
  });
});

describe('maps and lists', () => {
  test('maps merge recursively and null deletes', () => {
    const out = patch({ metadata: { labels: { a: null, c: '3' } }, spec: { replicas: 3, color: null } });
    expect(meta(out).labels).toEqual({ b: '2', c: '3' });
    expect(out.spec).toEqual({ image: 'nginx', replicas: 3 });
  });

  test('a null for a missing key is dropped, not stored', () => {
    const out = patch({ metadata: { annotations: { x: null, y: 'z' } } });
    expect(meta(out).annotations).toEqual({ y: 'z' });
  });

  test('finalizers merge as a set, keeping the original order', () => {
    const out = patch({ metadata: { finalizers: ['example.com/new', 'foregroundDeletion'] } });
    expect(meta(out).finalizers).toEqual(['foregroundDeletion', 'example.com/keep', 'example.com/new']);
  });

  test('ownerReferences merge by uid, new ones appended', () => {
    const out = patch({
      metadata: { ownerReferences: [{ uid: 'N', name: 'n', kind: 'K', apiVersion: 'v1' }] },
    });
    expect((meta(out).ownerReferences as Json[]).map((r) => r.uid)).toEqual(['X', 'Z', 'N']);
  });

  test('conditions merge by type', () => {
    const out = patch({
      status: {
        conditions: [
          { type: 'Ready', status: 'True', reason: null },
          { type: 'Degraded', status: 'False' },
        ],
      },
    });
    expect(status(out).conditions).toEqual([
      { type: 'Ready', status: 'True' },
      { type: 'Synced', status: 'True', reason: 'Ok' },
      { type: 'Degraded', status: 'False' },
    ]);
  });

  test('lists without a strategy are replaced', () => {
    const o = { spec: { args: ['a', 'b'] } };
    expect(strategicMergePatch(o, { spec: { args: ['c'] } })).toEqual({ spec: { args: ['c'] } });
  });

  test('a condition without its merge key is rejected', () => {
    const err = thrown(() => patch({ status: { conditions: [{ status: 'True' }] } }));
    expect(err.code).toBe(400);
    expect(err.message).toBe('map: {"status":"True"} does not contain declared merge key: type');
  });
});

describe('directives', () => {
  test('$patch: replace on a map', () => {
    const out = patch({ metadata: { labels: { $patch: 'replace', z: '9' } } });
    expect(meta(out).labels).toEqual({ z: '9' });
  });

  test('$patch: delete on a map', () => {
    const out = patch({ spec: { $patch: 'delete' } });
    expect(out.spec).toEqual({});
  });

  test('$patch: merge on a map is an ordinary merge', () => {
    const out = patch({ metadata: { labels: { $patch: 'merge', c: '3' } } });
    expect(meta(out).labels).toEqual({ a: '1', b: '2', c: '3' });
  });

  test('$patch: replace inside a merging list replaces the whole list', () => {
    const out = patch({ status: { conditions: [{ $patch: 'replace' }, { type: 'Only', status: 'True' }] } });
    expect(status(out).conditions).toEqual([{ type: 'Only', status: 'True' }]);
    const fin = patch({ metadata: { finalizers: [{ $patch: 'replace' }, 'a/b'] } });
    expect(meta(fin).finalizers).toEqual(['a/b']);
  });

  test('$patch: delete inside a merging list removes the item', () => {
    const out = patch({ status: { conditions: [{ $patch: 'delete', type: 'Ready' }] } });
    expect(status(out).conditions).toEqual([{ type: 'Synced', status: 'True', reason: 'Ok' }]);
  });

  test('$setElementOrder orders merged lists', () => {
    const out = patch({
      status: {
        '$setElementOrder/conditions': [{ type: 'New' }, { type: 'Synced' }, { type: 'Ready' }],
        conditions: [{ type: 'New', status: 'Unknown' }],
      },
    });
    expect((status(out).conditions as Json[]).map((c) => c.type)).toEqual(['New', 'Synced', 'Ready']);
    const fin = patch({
      metadata: { '$setElementOrder/finalizers': ['example.com/keep', 'foregroundDeletion'] },
    });
    expect(meta(fin).finalizers).toEqual(['example.com/keep', 'foregroundDeletion']);
  });

  test('$retainKeys clears keys it does not list', () => {
    const out = patch({ spec: { $retainKeys: ['image', 'color'], color: 'red' } });
    expect(out.spec).toEqual({ image: 'nginx', color: 'red' });
  });

  test('directives never leak into the result', () => {
    const out = patch({
      status: { conditions: [{ type: 'New', status: 'True', $patch: 'merge' }] },
      metadata: { ownerReferences: [{ uid: 'N', name: 'n', $patch: 'merge' }] },
    });
    expect(JSON.stringify(out)).not.toContain('$');
  });

  test.each([
    [{ metadata: { $patch: 'explode' } }, /^unknown patch type: explode in map: /],
    [
      { status: { conditions: [{ type: 'Ready', $patch: 'explode' }] } },
      /^unknown patch type: explode in map/,
    ],
    [
      { metadata: { '$deleteFromPrimitiveList/finalizers': 'x' } },
      /^invalid patch format of primitive list$/,
    ],
    [{ metadata: { '$setElementOrder/finalizers': 'x' } }, /^invalid patch format of setElementOrder list$/],
    [{ spec: { $retainKeys: 'image' } }, /^invalid patch format of retainKeys$/],
    [{ spec: { $retainKeys: ['image'], color: 'red' } }, /^patch content doesn't match retainKeys list$/],
    [{ spec: { $frobnicate: true } }, /unknown directive \$frobnicate/],
    [{ metadata: { finalizers: [{ a: 1 }] } }, /list of primitives/],
  ])('bad directive %j is a 400', (p, message) => {
    const err = thrown(() => patch(p as Json));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    expect(err.message).toMatch(message);
  });
});
