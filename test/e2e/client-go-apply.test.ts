/**
 * Server-side apply through client-go, the witness for controllers and Flux's Go libraries
 * (test/witness/apply): the dynamic client's Apply creates and re-applies without change, a dry-run
 * apply (Flux's diff) answers without storing, a second
 * manager's change is a conflict client-go recognises (apierrors.IsConflict) with causes naming the field
 * and manager, Force takes it over, a label no longer applied is removed with its map, ApplyStatus is
 * recorded on `status`, and apimachinery's managedfields.ExtractInto, parsing this server's OpenAPI v2
 * and FieldsV1 with structured-merge-diff, extracts exactly what the witness applied. The OpenAPI
 * document is the protobuf form client-go's OpenAPISchema() asks for, checked against gnostic's own
 * reading of our JSON. On both stores.
 */
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { startServerOnStore, type StoreKind, type TestServer } from '../support/widget-server';

jest.setTimeout(300000);

const WITNESS_DIR = path.resolve(__dirname, '../witness');
const WITNESS = path.join(WITNESS_DIR, 'build/apply');

beforeAll(() => {
  // Pinned and cached (quick when up to date); compiles with the bed's client-go from the Go build cache.
  const built = spawnSync('bash', [path.join(WITNESS_DIR, 'build.sh')], {
    encoding: 'utf8',
    timeout: 280000,
  });
  if (built.status !== 0) throw new Error(`test/witness/build.sh failed: ${built.stderr || built.stdout}`);
});

interface Observed {
  created: boolean;
  reapplyUnchanged: boolean;
  dryRunImage: string;
  imageAfterDryRun: string;
  conflict: {
    isConflict: boolean;
    message: string;
    causes: Array<{ reason: string; message: string; field: string }>;
  };
  forcedReplicas: number;
  managers: string[];
  labelsAfterPrune: Record<string, string> | null;
  statusManager: { manager: string; operation: string; subresource: string };
  conditions: Array<Record<string, unknown>>;
  extracted: Record<string, unknown>;
  openAPIProtobufMatchesJSON: boolean;
  openAPIDefinitions: number;
  openAPIPaths: number;
  steps: string[];
}

function witness(kubeconfig: string, namespace: string): Promise<Observed> {
  return new Promise((resolve, reject) =>
    execFile(
      WITNESS,
      ['-kubeconfig', kubeconfig, '-namespace', namespace],
      // Where the witness writes both documents as YAML when they differ, to read the difference.
      { timeout: 90000, env: { ...process.env, WITNESS_DIFF_DIR: path.dirname(kubeconfig) } },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`witness failed: ${stderr || err.message}`))
          : resolve(JSON.parse(stdout) as Observed),
    ),
  );
}

describe.each<StoreKind>(['memory', 'etcd'])('client-go server-side apply (%s store)', (store) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServerOnStore(store, 'client-go-apply');
  });

  afterAll(async () => {
    await server?.close();
  });

  test('Apply, conflicts, Force, pruning, ApplyStatus and ExtractInto behave as on kube-apiserver', async () => {
    const seen = await witness(server.kubeconfig, `client-go-apply-${store}`);
    expect(seen.steps).toHaveLength(9);
    expect(seen.created).toBe(true);
    expect(seen.reapplyUnchanged).toBe(true);
    // Flux's diff: a dry-run apply answers with the result and stores nothing.
    expect(seen.dryRunImage).toBe('nginx:1.28');
    expect(seen.imageAfterDryRun).toBe('nginx:1.27');
    expect(seen.conflict.isConflict).toBe(true);
    expect(seen.conflict.message).toMatch(
      /^Apply failed with 1 conflict: conflict with "tuner" using custom.example.com\/v1 at \S+: .spec.replicas$/,
    );
    expect(seen.conflict.causes).toEqual([
      {
        reason: 'FieldManagerConflict',
        message: expect.stringMatching(/^conflict with "tuner" using custom.example.com\/v1/),
        field: '.spec.replicas',
      },
    ]);
    expect(seen.forcedReplicas).toBe(2);
    // The only label the witness owned went, and the emptied map with it.
    expect(seen.labelsAfterPrune).toBeNull();
    expect(seen.statusManager).toEqual({
      manager: 'witness-status',
      operation: 'Apply',
      subresource: 'status',
    });
    expect(seen.conditions).toEqual([
      expect.objectContaining({ type: 'Ready', status: 'True', reason: 'Witnessed' }),
    ]);
    // tuner lost spec.replicas to the forced apply and owns nothing else, so its entry is gone.
    expect(seen.managers.sort()).toEqual(['witness-status/Apply/status', 'witness/Apply/']);
    // client-go's OpenAPISchema() got the protobuf form, and it says what gnostic reads from our JSON.
    expect(seen.openAPIProtobufMatchesJSON).toBe(true);
    expect(seen.openAPIDefinitions).toBeGreaterThan(10);
    expect(seen.openAPIPaths).toBeGreaterThan(10);
    // Exactly the applied configuration: structured-merge-diff read our FieldsV1 against our OpenAPI
    // (metadata.name is nobody's field; client-go's generated Extract functions set it themselves).
    expect(seen.extracted).toEqual({
      apiVersion: 'custom.example.com/v1',
      kind: 'Widget',
      spec: { image: 'nginx:1.27', replicas: 2 },
    });
  });
});
