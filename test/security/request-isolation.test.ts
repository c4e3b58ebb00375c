/**
 * Authorization sees exactly the request that is served: repeated query parameters read once, the same
 * way, by the authorizer and the handler; continue tokens that cannot leave the collection they were
 * authorized for; name-narrowed lists across all namespaces; content negotiated before anything is
 * written; and methods without a route refused. Against the real server, on both stores (etcd for the
 * forged continue token, whose range reads were the hole).
 */
import { ApiClient, widget } from '../support/api-client';
import { startServerOnStore, type StoreKind, type TestServer } from '../support/widget-server';
import { parseRequestInfo } from '../../src/widget-server/http/request-info';
import { attributesFor } from '../../src/widget-server/auth/authorization';

jest.setTimeout(60000);

const G = '/apis/custom.example.com/v1';
const nsPath = (ns: string) => `${G}/namespaces/${ns}/widgets`;
const token = (t: object) => Buffer.from(JSON.stringify(t)).toString('base64url');
const names = (items: Array<{ metadata: { namespace: string; name: string } }>) =>
  items.map((w) => `${w.metadata.namespace}/${w.metadata.name}`);

describe('the request authorization sees is the request served (parsing)', () => {
  test('a repeated fieldSelector: authorization and the list both take the first value', () => {
    const info = parseRequestInfo(
      'GET',
      `${nsPath('a')}?fieldSelector=metadata.name%3Dw-a&fieldSelector=metadata.name%3Dw-b`,
    );
    expect(info).toMatchObject({ verb: 'list', namespace: 'a', name: 'w-a' });
    expect(info.pathName).toBeUndefined();
    const options = info.listOptions as { query: { fieldSelectorText: string } };
    expect(options.query.fieldSelectorText).toBe('metadata.name=w-a');
  });

  test('an all-namespaces list narrowed by name is authorized for that name and routed as a list', () => {
    const info = parseRequestInfo('GET', `${G}/widgets?fieldSelector=metadata.name%3Dx&watch=1`);
    expect(info).toMatchObject({ verb: 'watch', name: 'x' });
    expect(info.namespace).toBeUndefined();
    expect(info.pathName).toBeUndefined();
  });

  test('the SubjectAccessReview carries the selectors that are served (AuthorizeWithSelectors)', () => {
    const user = { name: 'dave', groups: ['system:authenticated'] };
    const info = parseRequestInfo(
      'GET',
      `${nsPath('a')}?fieldSelector=metadata.name%3Dw-a,status.phase!%3DFailed&fieldSelector=metadata.name%3Dw-b` +
        `&labelSelector=${encodeURIComponent('tier in (a,b),!gone,size>3')}`,
    );
    expect(attributesFor(user, info).resource).toEqual({
      namespace: 'a',
      verb: 'list',
      group: 'custom.example.com',
      version: 'v1',
      resource: 'widgets',
      subresource: '',
      name: 'w-a',
      fieldSelector: {
        requirements: [
          { key: 'metadata.name', operator: 'In', values: ['w-a'] },
          { key: 'status.phase', operator: 'NotIn', values: ['Failed'] },
        ],
      },
      // `size>3` cannot be expressed to an authorizer: leaving it out asks about a broader request.
      labelSelector: {
        requirements: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'gone', operator: 'DoesNotExist' },
        ],
      },
    });
    const get = parseRequestInfo('GET', `${nsPath('a')}/w-a?fieldSelector=metadata.name%3Dw-b`);
    expect(attributesFor(user, get).resource).not.toHaveProperty('fieldSelector');
  });

  test('the legacy /watch/ path is never narrowed by a selector (as kube-apiserver)', () => {
    const info = parseRequestInfo('GET', `${G}/watch/namespaces/a/widgets?fieldSelector=metadata.name%3Dx`);
    expect(info.verb).toBe('watch');
    expect(info.name).toBeUndefined();
  });

  test('percent-encoded paths are decoded before they are split, as Go does', () => {
    expect(parseRequestInfo('GET', `${G}/namespaces/a/widgets/w%2Da`)).toMatchObject({
      verb: 'get',
      name: 'w-a',
      pathName: 'w-a',
    });
  });

  test('booleans read as the parameter codec reads them', () => {
    expect(parseRequestInfo('GET', `${nsPath('a')}?watch=yes&watch=false`).verb).toBe('watch');
    expect(parseRequestInfo('GET', `${nsPath('a')}?watch=0`).verb).toBe('list');
    expect(parseRequestInfo('GET', `${nsPath('a')}?watch=False`).verb).toBe('list');
  });
});

describe.each<StoreKind>(['memory', 'etcd'])('request isolation (%s store)', (store) => {
  let server: TestServer;
  let api: ApiClient;

  beforeAll(async () => {
    server = await startServerOnStore(store, 'isolation');
    api = new ApiClient(server);
    for (const [ns, name] of [
      ['a', 'w-a'],
      ['a', 'w-b'],
      ['a', 'w-c'],
      ['b', 'x-1'],
      ['b', 'x-2'],
      ['c', 'y-1'],
    ]) {
      const r = await api.post(
        nsPath(ns),
        widget(name, {}, { metadata: { labels: { size: name.slice(-1) } } }),
      );
      expect(r.status).toBe(201);
    }
  });

  afterAll(async () => {
    await server?.close();
  });

  test('a repeated fieldSelector serves the first value only', async () => {
    const r = await api.get(
      `${nsPath('a')}?fieldSelector=metadata.name%3Dw-a&fieldSelector=metadata.name%3Dw-b`,
    );
    expect(r.status).toBe(200);
    expect(names(r.json.items)).toEqual(['a/w-a']);
  });

  test('every repeated scalar parameter takes its first value (labelSelector, limit)', async () => {
    const r = await api.get(`${nsPath('a')}?labelSelector=size%3Db&labelSelector=size%3Dc&limit=1&limit=3`);
    expect(names(r.json.items)).toEqual(['a/w-b']);
    // limit=1 (the first value) stops after one match with more to read; limit=3 would have read all.
    expect(r.json.metadata.continue).toBeDefined();
  });

  test('all-namespaces list and watch narrowed by metadata.name answer 200, not 404', async () => {
    const list = await api.get(`${G}/widgets?fieldSelector=metadata.name%3Dx-2`);
    expect(list.status).toBe(200);
    expect(names(list.json.items)).toEqual(['b/x-2']);
    const w = await api.watch(`${G}/widgets?watch=true&fieldSelector=metadata.name%3Dy-1&timeoutSeconds=2`);
    expect(w.status).toBe(200);
    await w.waitForEnd();
    expect(w.events.map((e) => `${e.type} ${e.object.metadata.namespace}/${e.object.metadata.name}`)).toEqual(
      ['ADDED c/y-1'],
    );
  });

  describe('continue tokens cannot leave the listed collection', () => {
    test('a genuine token pages through its own namespace', async () => {
      const first = await api.get(`${nsPath('a')}?limit=2`);
      expect(names(first.json.items)).toEqual(['a/w-a', 'a/w-b']);
      const next = await api.get(`${nsPath('a')}?limit=2&continue=${first.json.metadata.continue}`);
      expect(names(next.json.items)).toEqual(['a/w-c']);
    });

    test('a forged token with an empty start key is refused (400), not a read of every namespace', async () => {
      const rv = Number((await api.get(nsPath('zzz'))).json.metadata.resourceVersion);
      const r = await api.get(
        `${nsPath('zzz')}?limit=100&continue=${token({ v: 'meta.k8s.io/v1', rv, start: '' })}`,
      );
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({
        kind: 'Status',
        reason: 'BadRequest',
        message:
          'invalid continue token: continue key is not valid: encoded start key empty (version meta.k8s.io/v1)',
      });
    });

    test('start keys that climb out of the prefix are refused', async () => {
      const rv = Number((await api.get(nsPath('zzz'))).json.metadata.resourceVersion);
      for (const start of ['../a/w-a', '/../../widgets/a', 'x/../../b', './', '//a']) {
        const r = await api.get(
          `${nsPath('zzz')}?limit=100&continue=${token({ v: 'meta.k8s.io/v1', rv, start })}`,
        );
        expect({ start, status: r.status, reason: r.json.reason }).toEqual({
          start,
          status: 400,
          reason: 'BadRequest',
        });
      }
    });

    test("a start key naming another namespace's object stays inside the request's namespace", async () => {
      const rv = Number((await api.get(nsPath('zzz'))).json.metadata.resourceVersion);
      // Absolute keys as the old tokens carried them, and plain keys sorting before everything.
      for (const start of ['widgets/a/w-a', 'a', '!', 'a/w-a']) {
        const r = await api.get(
          `${nsPath('zzz')}?limit=100&continue=${token({ v: 'meta.k8s.io/v1', rv, start })}`,
        );
        expect({ start, status: r.status, items: r.json.items }).toEqual({ start, status: 200, items: [] });
      }
      // A token from namespace a used on namespace b lists b after that key, never a.
      const fromA = (await api.get(`${nsPath('a')}?limit=1`)).json.metadata.continue;
      const onB = await api.get(`${nsPath('b')}?limit=100&continue=${fromA}`);
      expect(onB.status).toBe(200);
      expect(names(onB.json.items)).toEqual(['b/x-1', 'b/x-2']);
    });

    test('malformed tokens: bad base64, unknown version, zero revision', async () => {
      const cases: Array<[string, RegExp]> = [
        ['%%%', /^invalid continue token: continue key is not valid/],
        [token({ v: 'meta.k8s.io/v2', rv: 5, start: 'x' }), /server does not recognize this encoded version/],
        [token({ v: 'meta.k8s.io/v1', rv: 0, start: 'x' }), /incorrect encoded start resourceVersion/],
        [token([1, 2]), /^invalid continue token/],
      ];
      for (const [t, message] of cases) {
        const r = await api.get(`${nsPath('a')}?limit=1&continue=${t}`);
        expect(r.status).toBe(400);
        expect(r.json.message).toMatch(message);
      }
    });
  });

  describe('content is negotiated before anything is written', () => {
    const html = { accept: 'text/html' };

    test('POST with an unacceptable Accept: 406, nothing created', async () => {
      const r = await api.post(nsPath('a'), widget('never'), html);
      expect(r.status).toBe(406);
      expect(r.json).toMatchObject({ kind: 'Status', reason: 'NotAcceptable' });
      expect((await api.get(`${nsPath('a')}/never`)).status).toBe(404);
    });

    test('PUT, PATCH and DELETE with an unacceptable Accept: 406, the object unchanged', async () => {
      const before = (await api.get(`${nsPath('a')}/w-c`)).json;
      const put = await api.put(
        `${nsPath('a')}/w-c`,
        { ...before, spec: { ...before.spec, replicas: 7 } },
        html,
      );
      expect(put.status).toBe(406);
      const patch = await api.patch(
        `${nsPath('a')}/w-c`,
        { spec: { replicas: 8 } },
        'application/merge-patch+json',
        html,
      );
      expect(patch.status).toBe(406);
      const del = await api.delete(`${nsPath('a')}/w-c`, undefined, html);
      expect(del.status).toBe(406);
      const after = await api.get(`${nsPath('a')}/w-c`);
      expect(after.status).toBe(200);
      expect(after.json.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    });

    test('PATCH /scale asking for a Table: 406, replicas unchanged', async () => {
      const before = (await api.get(`${nsPath('a')}/w-c/scale`)).json;
      const r = await api.patch(
        `${nsPath('a')}/w-c/scale`,
        { spec: { replicas: 9 } },
        'application/merge-patch+json',
        {
          accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
        },
      );
      expect(r.status).toBe(406);
      expect((await api.get(`${nsPath('a')}/w-c/scale`)).json.spec.replicas).toBe(before.spec.replicas);
    });

    test('DELETE of a collection with an unacceptable Accept: 406, nothing deleted', async () => {
      const r = await api.delete(nsPath('b'), undefined, html);
      expect(r.status).toBe(406);
      expect((await api.get(nsPath('b'))).json.items).toHaveLength(2);
    });
  });

  describe('methods without a route are 405 Status, never an item named "undefined"', () => {
    const notAllowed = {
      kind: 'Status',
      status: 'Failure',
      code: 405,
      reason: 'MethodNotAllowed',
      message: 'the server does not allow this method on the requested resource',
    };

    test('PUT and PATCH on the collection', async () => {
      const put = await api.put(nsPath('a'), widget('undefined'));
      expect(put.status).toBe(405);
      expect(put.json).toMatchObject(notAllowed);
      const patch = await api.patch(nsPath('a'), { spec: { replicas: 2 } }, 'application/merge-patch+json');
      expect(patch.status).toBe(405);
      expect(patch.json).toMatchObject(notAllowed);
      expect((await api.get(`${nsPath('a')}/undefined`)).status).toBe(404);
    });

    test('POST on an item, DELETE on a subresource, POST across all namespaces', async () => {
      expect((await api.post(`${nsPath('a')}/w-a`, widget('w-a'))).json).toMatchObject(notAllowed);
      expect((await api.delete(`${nsPath('a')}/w-a/status`)).json).toMatchObject(notAllowed);
      expect((await api.delete(`${nsPath('a')}/w-a/scale`)).json).toMatchObject(notAllowed);
      expect((await api.post(`${G}/widgets`, widget('nowhere'))).json).toMatchObject(notAllowed);
    });
  });

  test('label selector integer comparisons > and <', async () => {
    await api.post(nsPath('n'), widget('small', {}, { metadata: { labels: { tier: '2' } } }));
    await api.post(nsPath('n'), widget('big', {}, { metadata: { labels: { tier: '12' } } }));
    await api.post(nsPath('n'), widget('word', {}, { metadata: { labels: { tier: 'x' } } }));
    const gt = await api.get(`${nsPath('n')}?labelSelector=${encodeURIComponent('tier>5')}`);
    expect(names(gt.json.items)).toEqual(['n/big']);
    const lt = await api.get(`${nsPath('n')}?labelSelector=${encodeURIComponent('tier<5')}`);
    expect(names(lt.json.items)).toEqual(['n/small']);
    const bad = await api.get(`${nsPath('n')}?labelSelector=${encodeURIComponent('tier>five')}`);
    expect(bad.status).toBe(400);
    expect(bad.json.message).toContain("for 'Gt', 'Lt' operators, the value must be an integer");
  });
});
