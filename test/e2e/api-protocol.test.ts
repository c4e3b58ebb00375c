/**
 * API-level protocol tests against a real Widget server, on both stores: discovery, OpenAPI, every Status
 * error shape, list paging and selectors, watch semantics (resume, 410, bookmarks, watch-list,
 * PartialObjectMetadata, Table), dry runs, field validation, finalizers and propagation policies.
 */
import { ApiClient, widget } from '../support/api-client';
import { startEtcd, type EtcdProcess } from '../support/etcd';
import {
  startServerOnStore,
  startTestServer,
  uniquePrefix,
  type StoreKind,
  type TestServer,
} from '../support/widget-server';

jest.setTimeout(60000);

const G = '/apis/custom.example.com/v1';
const NS = `${G}/namespaces/default/widgets`;
const POM = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
const POML = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const TABLE =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

describe.each<StoreKind>(['memory', 'etcd'])('Widget API protocol (%s store)', (store) => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServerOnStore(store, 'api');
    api = new ApiClient(server);
  });

  afterAll(async () => {
    await server?.close();
  });

  describe('discovery and OpenAPI', () => {
    test('aggregated discovery v2 with exact content type, ETag and 304', async () => {
      const accept =
        'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';
      const r = await api.get('/apis', { accept });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe(
        'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
      );
      expect(r.headers.etag).toMatch(/^"[0-9A-Fa-f]{128}"$/);
      const version = r.json.items[0].versions[0];
      expect(r.json.items[0].metadata.name).toBe('custom.example.com');
      const widgets = version.resources.find((x: { resource: string }) => x.resource === 'widgets');
      expect(widgets).toMatchObject({
        singularResource: 'widget',
        shortNames: ['wg'],
        categories: ['all'],
        scope: 'Namespaced',
      });
      expect(widgets.subresources.map((s: { subresource: string }) => s.subresource).sort()).toEqual([
        'scale',
        'status',
      ]);
      const again = await api.get('/apis', {
        accept,
        headers: { 'If-None-Match': r.headers.etag as string },
      });
      expect(again.status).toBe(304);
      const legacy = await api.get('/apis');
      expect(legacy.json.kind).toBe('APIGroupList');
    });

    test('legacy group and resource list, version, /api', async () => {
      expect((await api.get('/apis/custom.example.com')).json.kind).toBe('APIGroup');
      const rl = (await api.get(G)).json;
      expect(rl.kind).toBe('APIResourceList');
      const names = rl.resources.map((r: { name: string }) => r.name).sort();
      expect(names).toEqual(['widgets', 'widgets/scale', 'widgets/status']);
      expect(rl.resources.find((r: { name: string }) => r.name === 'widgets/scale')).toMatchObject({
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
      });
      expect((await api.get('/version')).json.gitVersion).toBeTruthy();
      expect((await api.get('/api')).status).toBe(404);
    });

    test('OpenAPI v2 (JSON and protobuf) and v3 with ETags and no redirect on a stale hash', async () => {
      const v2 = await api.get('/openapi/v2', { accept: 'application/json' });
      expect(v2.status).toBe(200);
      expect(v2.headers.etag).toBeTruthy();
      expect(Object.keys(v2.json.paths)).toContain(`${G}/namespaces/{namespace}/widgets/{name}`);
      expect(
        (await api.get('/openapi/v2', { headers: { 'If-None-Match': v2.headers.etag as string } })).status,
      ).toBe(304);
      // The protobuf form, by either name kube-openapi accepts, with an ETag of its own; JSON is preferred
      // for */*, and a type neither form has is a 406.
      for (const accept of [
        'application/com.github.proto-openapi.spec.v2@v1.0+protobuf',
        'application/com.github.proto-openapi.spec.v2.v1.0+protobuf, application/json;q=0.5',
      ]) {
        const pb = await api.get('/openapi/v2', { accept });
        expect([pb.status, pb.headers['content-type']]).toEqual([
          200,
          'application/com.github.proto-openapi.spec.v2.v1.0+protobuf',
        ]);
        expect(pb.headers.etag).toBeTruthy();
        expect(pb.headers.etag).not.toBe(v2.headers.etag);
        // Field 1 of openapi.v2.Document is `swagger`: tag 0x0a, length 3, "2.0".
        expect(Buffer.from(pb.text, 'latin1').subarray(0, 5).toString('latin1')).toBe('\n\u00032.0');
      }
      expect((await api.get('/openapi/v2', { accept: '*/*' })).headers['content-type']).toMatch(
        /^application\/json/,
      );
      expect((await api.get('/openapi/v2', { accept: 'application/yaml' })).status).toBe(406);
      const root = await api.get('/openapi/v3');
      const url: string = root.json.paths['apis/custom.example.com/v1'].serverRelativeURL;
      expect(url).toMatch(/^\/openapi\/v3\/apis\/custom.example.com\/v1\?hash=[0-9A-F]+$/);
      const gv = await api.get(url, { accept: 'application/json' });
      expect(gv.status).toBe(200);
      expect(gv.headers['cache-control']).toMatch(/immutable/);
      const stale = await api.get('/openapi/v3/apis/custom.example.com/v1?hash=DEADBEEF');
      expect(stale.status).toBe(200);
      expect(stale.headers['cache-control']).not.toMatch(/immutable/);
    });

    test('health endpoints', async () => {
      for (const p of ['/healthz', '/livez', '/readyz']) {
        const r = await api.get(p);
        expect([p, r.status, r.text]).toEqual([p, 200, 'ok']);
      }
      expect((await api.get('/readyz?verbose')).text).toMatch(/\[\+\]\w+-storage ok/);
      const metrics = await api.get('/metrics');
      expect(metrics.text).toMatch(/apiserver_request_total\{/);
    });
  });

  describe('errors are Status objects', () => {
    test('404 NotFound with resource details', async () => {
      const r = await api.get(`${NS}/missing`);
      expect(r.status).toBe(404);
      expect(r.json).toMatchObject({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'NotFound',
        code: 404,
        message: 'widgets.custom.example.com "missing" not found',
        details: { name: 'missing', group: 'custom.example.com', kind: 'widgets' },
      });
      expect((await api.get('/apis/other.example.com/v1/foos')).json.reason).toBe('NotFound');
    });

    test('409 AlreadyExists and 409 Conflict on a stale resourceVersion', async () => {
      expect((await api.post(NS, widget('dup'))).status).toBe(201);
      const again = await api.post(NS, widget('dup'));
      expect(again.status).toBe(409);
      expect(again.json).toMatchObject({
        reason: 'AlreadyExists',
        message: 'widgets.custom.example.com "dup" already exists',
      });
      const current = (await api.get(`${NS}/dup`)).json;
      const first = await api.put(`${NS}/dup`, { ...current, spec: { ...current.spec, replicas: 3 } });
      expect(first.status).toBe(200);
      const stale = await api.put(`${NS}/dup`, { ...current, spec: { ...current.spec, replicas: 4 } });
      expect(stale.status).toBe(409);
      expect(stale.json.reason).toBe('Conflict');
      expect(stale.json.message).toMatch(
        /the object has been modified; please apply your changes to the latest version/,
      );
      expect((await api.get(`${NS}/dup`)).json.spec.replicas).toBe(3);
    });

    test('422 Invalid with field causes; nothing stored', async () => {
      const r = await api.post(NS, widget('bad', { replicas: -1, color: 'pink', image: '' }));
      expect(r.status).toBe(422);
      expect(r.json.reason).toBe('Invalid');
      expect(r.json.details.kind).toBe('Widget');
      const fields = r.json.details.causes.map((c: { field: string }) => c.field).sort();
      expect(fields).toEqual(['spec.color', 'spec.image', 'spec.replicas']);
      const longName = await api.post(NS, widget('x'.repeat(254)));
      expect(longName.status).toBe(422);
      expect(longName.json.details.causes[0].field).toBe('metadata.name');
      const badName = await api.post(NS, widget('Bad_Name'));
      expect(badName.status).toBe(422);
      expect(badName.json.message).toMatch(/a lowercase RFC 1123 subdomain/);
      const badLabel = await api.post(NS, {
        ...widget('lbl'),
        metadata: { name: 'lbl', labels: { 'bad key!': 'v' } },
      });
      expect(badLabel.status).toBe(422);
      expect(badLabel.json.details.causes[0].field).toMatch(/^metadata.labels/);
      expect((await api.get(`${NS}/bad`)).status).toBe(404);
    });

    test('400 for malformed JSON and YAML, wrong kind or apiVersion; 415; 413', async () => {
      const malformed = await api.request('POST', NS, {
        rawBody: '{"apiVersion": ',
        contentType: 'application/json',
      });
      expect(malformed.status).toBe(400);
      expect(malformed.json.reason).toBe('BadRequest');
      const badYaml = await api.request('POST', NS, {
        rawBody: 'kind: [unclosed',
        contentType: 'application/yaml',
      });
      expect(badYaml.status).toBe(400);
      const yamlOk = await api.request('POST', NS, {
        rawBody:
          'apiVersion: custom.example.com/v1\nkind: Widget\nmetadata:\n  name: from-yaml\nspec:\n  image: busybox\n',
        contentType: 'application/yaml',
      });
      expect(yamlOk.status).toBe(201);
      const wrongKind = await api.post(NS, { ...widget('wk'), kind: 'Gadget' });
      expect(wrongKind.status).toBe(400);
      const wrongVersion = await api.post(NS, { ...widget('wv'), apiVersion: 'custom.example.com/v2' });
      expect(wrongVersion.status).toBe(400);
      const protobuf = await api.request('POST', NS, {
        rawBody: 'x',
        contentType: 'application/vnd.kubernetes.protobuf',
      });
      expect(protobuf.status).toBe(415);
      expect(protobuf.json.reason).toBe('UnsupportedMediaType');
      const huge = await api.post(
        NS,
        widget('huge', {}, { metadata: { annotations: { a: 'x'.repeat(4 * 1024 * 1024) } } }),
      );
      expect(huge.status).toBe(413);
      expect(huge.json.kind).toBe('Status');
      // Server-side apply is served; without a fieldManager it is refused before anything is read.
      const apply = await api.patch(`${NS}/from-yaml`, {}, 'application/apply-patch+yaml');
      expect(apply.status).toBe(422);
      for (const name of ['wk', 'wv', 'huge']) expect((await api.get(`${NS}/${name}`)).status).toBe(404);
    });

    test('field validation: Strict is 400, Warn adds a Warning header, Ignore drops the field', async () => {
      const body = { ...widget('fv'), spec: { image: 'nginx', foo: 'bar' } };
      const strict = await api.post(`${NS}?fieldValidation=Strict`, body);
      expect(strict.status).toBe(400);
      expect(strict.json.message).toMatch(/strict decoding error: unknown field "spec.foo"/);
      const warn = await api.post(`${NS}?fieldValidation=Warn`, body);
      expect(warn.status).toBe(201);
      expect(String(warn.headers.warning)).toMatch(/^299 - "unknown field \\"spec.foo\\""$/);
      expect(warn.json.spec.foo).toBeUndefined();
      const ignore = await api.post(`${NS}?fieldValidation=Ignore`, { ...body, metadata: { name: 'fv2' } });
      expect(ignore.status).toBe(201);
      expect(ignore.headers.warning).toBeUndefined();
      expect((await api.post(`${NS}?fieldValidation=Bogus`, body)).status).toBe(400);
    });
  });

  describe('metadata semantics', () => {
    test('generateName, uid, creationTimestamp, generation bumps on spec change only', async () => {
      const created = await api.post(NS, { ...widget(''), metadata: { generateName: 'gen-' } });
      expect(created.status).toBe(201);
      const w = created.json;
      expect(w.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
      expect(w.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(w.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(w.metadata.generation).toBe(1);
      expect(w.status.phase).toBe('Pending');
      const path = `${NS}/${w.metadata.name}`;
      const labelled = await api.patch(
        path,
        { metadata: { labels: { a: 'b' } } },
        'application/merge-patch+json',
      );
      expect(labelled.json.metadata.generation).toBe(1);
      expect(Number(labelled.json.metadata.resourceVersion)).toBeGreaterThan(
        Number(w.metadata.resourceVersion),
      );
      const respec = await api.patch(path, { spec: { replicas: 9 } }, 'application/merge-patch+json');
      expect(respec.json.metadata.generation).toBe(2);
      const statusIgnored = await api.patch(
        path,
        { status: { phase: 'Running' } },
        'application/merge-patch+json',
      );
      expect(statusIgnored.json.status.phase).toBe('Pending');
      const status = await api.patch(
        `${path}/status`,
        { status: { phase: 'Running' }, spec: { replicas: 1 } },
        'application/merge-patch+json',
      );
      expect(status.json.status.phase).toBe('Running');
      expect(status.json.spec.replicas).toBe(9);
      const uidChange = await api.patch(path, { metadata: { uid: 'other' } }, 'application/merge-patch+json');
      expect(uidChange.status).toBe(422);
    });

    test('dryRun=All on every write stores nothing', async () => {
      const created = await api.post(`${NS}?dryRun=All`, widget('dry'));
      expect(created.status).toBe(201);
      expect(created.json.metadata.uid).toBeTruthy();
      expect((await api.get(`${NS}/dry`)).status).toBe(404);
      await api.post(NS, widget('dry2'));
      const before = (await api.get(`${NS}/dry2`)).json;
      const put = await api.put(`${NS}/dry2?dryRun=All`, {
        ...before,
        spec: { ...before.spec, replicas: 50 },
      });
      expect(put.json.spec.replicas).toBe(50);
      const patch = await api.patch(
        `${NS}/dry2?dryRun=All`,
        { spec: { replicas: 60 } },
        'application/merge-patch+json',
      );
      expect(patch.json.spec.replicas).toBe(60);
      const scale = await api.patch(
        `${NS}/dry2/scale?dryRun=All`,
        { spec: { replicas: 70 } },
        'application/merge-patch+json',
      );
      expect(scale.json.spec.replicas).toBe(70);
      const del = await api.delete(`${NS}/dry2?dryRun=All`);
      expect(del.status).toBe(200);
      const delc = await api.delete(`${NS}?dryRun=All`);
      expect(delc.status).toBe(200);
      const after = (await api.get(`${NS}/dry2`)).json;
      expect(after.spec.replicas).toBe(before.spec.replicas);
      expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
      expect((await api.get(`${NS}/dup`)).status).toBe(200);
    });

    test('delete preconditions, propagation policies and finalizers', async () => {
      const w = (await api.post(NS, widget('pre'))).json;
      const wrongUid = await api.delete(`${NS}/pre`, {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        preconditions: { uid: 'nope' },
      });
      expect(wrongUid.status).toBe(409);
      expect(wrongUid.json.message).toMatch(/Precondition failed: UID in precondition: nope/);
      const wrongRv = await api.delete(`${NS}/pre`, {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        preconditions: { resourceVersion: '1' },
      });
      expect(wrongRv.status).toBe(409);
      const fg = await api.delete(`${NS}/pre`, {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        propagationPolicy: 'Foreground',
        preconditions: { uid: w.metadata.uid },
      });
      expect(fg.status).toBe(200);
      expect(fg.json.metadata.finalizers).toEqual(['foregroundDeletion']);
      expect(fg.json.metadata.deletionTimestamp).toBeTruthy();
      // The GC removes its finalizer with a strategic merge patch; that completes the deletion.
      const smp = await api.patch(
        `${NS}/pre`,
        { metadata: { '$deleteFromPrimitiveList/finalizers': ['foregroundDeletion'] } },
        'application/strategic-merge-patch+json',
      );
      expect(smp.status).toBe(200);
      expect((await api.get(`${NS}/pre`)).status).toBe(404);
      await api.post(NS, widget('orph'));
      const orphan = await api.delete(`${NS}/orph?propagationPolicy=Orphan`);
      expect(orphan.json.metadata.finalizers).toEqual(['orphan']);
      const addFinalizer = await api.patch(
        `${NS}/orph`,
        { metadata: { finalizers: ['orphan', 'example.com/new'] } },
        'application/merge-patch+json',
      );
      expect(addFinalizer.status).toBe(422);
      await api.patch(`${NS}/orph`, { metadata: { finalizers: null } }, 'application/merge-patch+json');
      expect((await api.get(`${NS}/orph`)).status).toBe(404);
    });

    test('ownerReferences are kept and the GC ownerReference patch removes one', async () => {
      const owner = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: 'cm',
        uid: '11111111-1111-1111-1111-111111111111',
      };
      const other = { ...owner, name: 'cm2', uid: '22222222-2222-2222-2222-222222222222' };
      const created = await api.post(NS, {
        ...widget('owned'),
        metadata: { name: 'owned', ownerReferences: [owner, other] },
      });
      expect(created.json.metadata.ownerReferences).toHaveLength(2);
      const patched = await api.patch(
        `${NS}/owned`,
        {
          metadata: {
            ownerReferences: [{ $patch: 'delete', uid: owner.uid }],
            uid: created.json.metadata.uid,
          },
        },
        'application/strategic-merge-patch+json',
      );
      expect(patched.status).toBe(200);
      expect(patched.json.metadata.ownerReferences).toEqual([other]);
    });
  });

  describe('lists', () => {
    beforeAll(async () => {
      for (let i = 0; i < 7; i++) {
        await api.post(`${G}/namespaces/paging/widgets`, {
          ...widget(`p${i}`),
          metadata: { name: `p${i}`, labels: { idx: String(i), parity: i % 2 ? 'odd' : 'even' } },
        });
      }
    });

    test('limit and continue page through one snapshot', async () => {
      const path = `${G}/namespaces/paging/widgets`;
      const first = (await api.get(`${path}?limit=3`)).json;
      expect(first.items.map((w: { metadata: { name: string } }) => w.metadata.name)).toEqual([
        'p0',
        'p1',
        'p2',
      ]);
      expect(first.metadata.continue).toBeTruthy();
      expect(first.metadata.remainingItemCount).toBe(4);
      await api.post(path, widget('p00'));
      const second = (await api.get(`${path}?limit=3&continue=${first.metadata.continue}`)).json;
      expect(second.items.map((w: { metadata: { name: string } }) => w.metadata.name)).toEqual([
        'p3',
        'p4',
        'p5',
      ]);
      expect(second.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
      const third = (await api.get(`${path}?limit=3&continue=${second.metadata.continue}`)).json;
      expect(third.items.map((w: { metadata: { name: string } }) => w.metadata.name)).toEqual(['p6']);
      expect(third.metadata.continue).toBeUndefined();
      const bad = await api.get(`${path}?limit=3&continue=garbage`);
      expect(bad.status).toBe(400);
      const both = await api.get(`${path}?limit=3&continue=${first.metadata.continue}&resourceVersion=5`);
      expect(both.status).toBe(400);
    });

    test('label selectors of every operator and field selectors', async () => {
      const path = `${G}/namespaces/paging/widgets`;
      const names = async (q: string) =>
        (await api.get(`${path}?${q}`)).json.items.map(
          (w: { metadata: { name: string } }) => w.metadata.name,
        );
      expect(await names('labelSelector=parity%3Dodd')).toEqual(['p1', 'p3', 'p5']);
      expect(await names('labelSelector=parity!%3Dodd,idx')).toEqual(['p0', 'p2', 'p4', 'p6']);
      expect(await names('labelSelector=idx%20in%20(1,2)')).toEqual(['p1', 'p2']);
      expect(await names('labelSelector=idx%20notin%20(0,1,2,3,4),parity')).toEqual(['p5', 'p6']);
      expect(await names('labelSelector=!idx')).toEqual(['p00']);
      expect(await names('fieldSelector=metadata.name%3Dp3')).toEqual(['p3']);
      expect(
        await names(
          'fieldSelector=status.phase%3DPending,metadata.name!%3Dp00&labelSelector=parity%3Deven&limit=2',
        ),
      ).toEqual(['p0', 'p2']);
      const unsupported = await api.get(`${path}?fieldSelector=spec.color%3Dblue`);
      expect(unsupported.status).toBe(400);
      const badSelector = await api.get(`${path}?labelSelector=a%20in%20(`);
      expect(badSelector.status).toBe(400);
    });

    test('resourceVersion and resourceVersionMatch', async () => {
      const path = `${G}/namespaces/paging/widgets`;
      const list = (await api.get(path)).json;
      const rv = list.metadata.resourceVersion;
      await api.delete(`${path}/p00`);
      const exact = (await api.get(`${path}?resourceVersion=${rv}&resourceVersionMatch=Exact`)).json;
      expect(exact.items).toHaveLength(list.items.length);
      const latest = (await api.get(`${path}?resourceVersion=${rv}&resourceVersionMatch=NotOlderThan`)).json;
      expect(latest.items).toHaveLength(list.items.length - 1);
      const noRv = await api.get(`${path}?resourceVersionMatch=Exact`);
      expect(noRv.status).toBe(422);
      const future = await api.get(`${path}?resourceVersion=99999999&resourceVersionMatch=NotOlderThan`);
      expect(future.status).toBe(504);
      expect(future.json.details.causes[0].reason).toBe('ResourceVersionTooLarge');
      const pom = await api.get(path, { accept: POML });
      expect(pom.json.kind).toBe('PartialObjectMetadataList');
      expect(pom.json.items[0].kind).toBe('PartialObjectMetadata');
      const emptyPom = await api.get(`${G}/namespaces/empty/widgets`, { accept: POML });
      expect(emptyPom.text).toMatch(/"items":\[\]/);
      const table = await api.get(`${path}?limit=2`, { accept: TABLE });
      expect(table.json.kind).toBe('Table');
      expect(table.json.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
        'Name',
        'Replicas',
        'Available',
        'Color',
        'Phase',
        'Age',
      ]);
      expect(table.json.rows).toHaveLength(2);
      expect(table.json.metadata.continue).toBeTruthy();
      expect(table.json.rows[0].object.kind).toBe('PartialObjectMetadata');
      const withObject = await api.get(`${path}?includeObject=Object`, { accept: TABLE });
      expect(withObject.json.rows[0].object.kind).toBe('Widget');
      const all = (await api.get(`${G}/widgets`)).json;
      expect(
        new Set(all.items.map((w: { metadata: { namespace: string } }) => w.metadata.namespace)),
      ).toEqual(new Set(['default', 'paging']));
    });

    test('deletecollection with a label selector', async () => {
      const path = `${G}/namespaces/paging/widgets`;
      const r = await api.delete(`${path}?labelSelector=parity%3Dodd`);
      expect(r.status).toBe(200);
      expect(r.json.items).toHaveLength(3);
      const left = (await api.get(path)).json.items.map(
        (w: { metadata: { name: string } }) => w.metadata.name,
      );
      expect(left).toEqual(['p0', 'p2', 'p4', 'p6']);
    });
  });

  describe('watch', () => {
    const path = `${G}/namespaces/watching/widgets`;

    test('initial state, live events, field selector on one name, and timeoutSeconds', async () => {
      await api.post(path, widget('w1'));
      const w = await api.watch(`${path}?watch=true&timeoutSeconds=3`);
      expect(w.status).toBe(200);
      expect(w.headers['content-type']).toBe('application/json');
      await w.waitForEvents(1);
      expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'w1' } } });
      const single = await api.watch(`${path}?watch=true&fieldSelector=metadata.name%3Dw2&timeoutSeconds=3`);
      await api.post(path, widget('w2'));
      await api.patch(`${path}/w1`, { spec: { replicas: 4 } }, 'application/merge-patch+json');
      await api.delete(`${path}/w2`);
      await w.waitForEvents(4);
      expect(
        w.events.map(
          (e: { type: string; object: { metadata: { name: string } } }) =>
            `${e.type} ${e.object.metadata.name}`,
        ),
      ).toEqual(['ADDED w1', 'ADDED w2', 'MODIFIED w1', 'DELETED w2']);
      await single.waitForEvents(2);
      expect(single.events.map((e: { type: string }) => e.type)).toEqual(['ADDED', 'DELETED']);
      await w.waitForEnd(8000);
      expect(w.ended).toBe(true);
      single.stop();
    });

    test('resume from a resourceVersion, and 410 Expired for a compacted one', async () => {
      const rv = (await api.get(path)).json.metadata.resourceVersion;
      await api.post(path, widget('w3'));
      const resumed = await api.watch(`${path}?watch=true&resourceVersion=${rv}&timeoutSeconds=2`);
      await resumed.waitForEvents(1);
      expect(resumed.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'w3' } } });
      resumed.stop();
      await api.post(path, widget('w4'));
      await api.delete(`${path}/w4`);
      await server.storage.compact(await server.storage.currentRevision());
      const tooOld = await api.watch(`${path}?watch=true&resourceVersion=${rv}`);
      expect(tooOld.status).toBe(200);
      await tooOld.waitForEnd();
      expect(tooOld.events).toHaveLength(1);
      expect(tooOld.events[0]).toMatchObject({
        type: 'ERROR',
        object: { kind: 'Status', code: 410, reason: 'Expired' },
      });
      const list = await api.get(`${path}?resourceVersion=${rv}&resourceVersionMatch=Exact`);
      expect(list.status).toBe(410);
    });

    test('watch-list: sendInitialEvents with the initial-events-end bookmark, as PartialObjectMetadata', async () => {
      const w = await api.watch(
        `${path}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=5`,
        { accept: POM },
      );
      const current = (await api.get(path)).json.items.length;
      await w.waitForEvents(current + 1);
      const bookmark = w.events[current];
      expect(
        w.events
          .slice(0, current)
          .every(
            (e: { type: string; object: { kind: string } }) =>
              e.type === 'ADDED' && e.object.kind === 'PartialObjectMetadata',
          ),
      ).toBe(true);
      expect(bookmark.type).toBe('BOOKMARK');
      expect(bookmark.object.metadata.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
      await api.patch(`${path}/w1`, { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json');
      await w.waitForEvents(current + 2);
      expect(w.events[current + 1]).toMatchObject({
        type: 'MODIFIED',
        object: { kind: 'PartialObjectMetadata' },
      });
      w.stop();
      const forbidden = await api.get(`${path}?watch=true&sendInitialEvents=true`);
      expect(forbidden.status).toBe(422);
    });

    test('Table watch events and label-selector transitions', async () => {
      const w = await api.watch(`${path}?watch=true&labelSelector=color%3Dred&timeoutSeconds=5`, {
        accept: TABLE,
      });
      await api.patch(
        `${path}/w1`,
        { metadata: { labels: { color: 'red' } } },
        'application/merge-patch+json',
      );
      await api.patch(
        `${path}/w1`,
        { metadata: { labels: { color: 'blue' } } },
        'application/merge-patch+json',
      );
      await w.waitForEvents(2);
      expect(w.events.map((e: { type: string }) => e.type)).toEqual(['ADDED', 'DELETED']);
      expect(w.events[0].object.kind).toBe('Table');
      expect(w.events[0].object.rows[0].cells[0]).toBe('w1');
      w.stop();
    });
  });
});

describe('two replicas against one etcd', () => {
  let etcd: EtcdProcess;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    etcd = await startEtcd();
    const prefix = uniquePrefix('replicas');
    a = await startTestServer({ etcdEndpoint: etcd.endpoint, etcdPrefix: prefix });
    b = await startTestServer({ etcdEndpoint: etcd.endpoint, etcdPrefix: prefix });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await etcd?.stop();
  });

  test('a write on one appears in a watch on the other, with one resourceVersion sequence', async () => {
    const apiA = new ApiClient(a);
    const apiB = new ApiClient(b);
    const w = await apiB.watch(`${NS}?watch=true&timeoutSeconds=5`);
    const created = await apiA.post(NS, widget('shared'));
    expect(created.status).toBe(201);
    await w.waitForEvents(1);
    expect(w.events[0]).toMatchObject({
      type: 'ADDED',
      object: { metadata: { name: 'shared', resourceVersion: created.json.metadata.resourceVersion } },
    });
    const fromB = await apiB.get(`${NS}/shared`);
    expect(fromB.json.metadata.uid).toBe(created.json.metadata.uid);
    const stale = await apiB.put(`${NS}/shared`, {
      ...created.json,
      spec: { ...created.json.spec, replicas: 2 },
    });
    expect(stale.status).toBe(200);
    const conflict = await apiA.put(`${NS}/shared`, {
      ...created.json,
      spec: { ...created.json.spec, replicas: 3 },
    });
    expect(conflict.status).toBe(409);
    w.stop();
  });
});
