/**
 * Tests the Argo CD health check for AggregatedAPI (config/argocd/health.lua) with Debian's real Lua 5.1
 * interpreter: each sample object is written as a Lua table literal into a driver chunk that sets `obj`
 * as Argo CD does, runs the script with undeclared globals forbidden and prints the status and message.
 * Also checks that `kubectl kustomize config/argocd` puts the script, byte for byte, into argocd-cm, and
 * that the patch recipe documented for an existing argocd-cm keeps its other keys (kubectl --local, no
 * cluster). lua5.1 comes from test/install-deps.sh; when it is missing these tests fail, they never skip.
 */
import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import path from 'path';
import { parseAllDocuments } from 'yaml';

const repoRoot = path.resolve(__dirname, '../../..');
const scriptPath = 'config/argocd/health.lua';
const healthKey = 'resource.customizations.health.aggregation.example.com_AggregatedAPI';

/** A Lua string literal: printable ASCII as is, every other byte (and `"`, `\`) as a 3-digit `\ddd`. */
function luaString(value: string): string {
  let literal = '"';
  for (const byte of Buffer.from(value, 'utf8')) {
    const printable = byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c;
    literal += printable ? String.fromCharCode(byte) : `\\${String(byte).padStart(3, '0')}`;
  }
  return `${literal}"`;
}

/** A Lua 5.1 literal for a JSON-like value: arrays as `{a,b}`, objects as `{["key"]=value}`. */
function toLua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return luaString(value);
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`no Lua literal for ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `{${value.map(toLua).join(',')}}`;
  if (typeof value === 'object') {
    const fields = Object.entries(value as Record<string, unknown>).map(
      ([key, field]) => `[${luaString(key)}]=${toLua(field)}`,
    );
    return `{${fields.join(',')}}`;
  }
  throw new Error(`no Lua literal for a ${typeof value}`);
}

/** Runs a program from PATH; a missing one fails the test with what to install. */
function run(program: string, args: string[], install: string, env?: NodeJS.ProcessEnv): string {
  try {
    return execFileSync(program, args, {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ?? process.env,
    });
  } catch (err) {
    const error = err as NodeJS.ErrnoException & { stderr?: string; status?: number | null };
    if (error.code === 'ENOENT') {
      throw new Error(`${program} is not on PATH: ${install}`);
    }
    throw new Error(`${program} ${args[0]} failed (exit ${error.status}): ${error.stderr ?? error.message}`);
  }
}

// kubectl must not reach the Kubernetes test bed (nothing here needs a cluster).
const offlineEnv = { ...process.env, KUBECONFIG: path.join(tmpdir(), 'argocd-health-test-no-kubeconfig') };
const kubectl = (args: string[]) =>
  run('kubectl', args, 'the test needs kubectl (with its built-in kustomize)', offlineEnv);

/** Runs health.lua on `obj` as Argo CD does and returns what it reports. */
function health(obj: unknown): { status: string; message: string } {
  const driver = [
    `obj = ${toLua(obj)}`,
    // Argo CD gives the script no other globals to share: any global it reads or writes is a bug.
    'setmetatable(_G, {',
    '  __newindex = function(_, k) error("health.lua assigns global " .. tostring(k), 2) end,',
    '  __index = function(_, k) error("health.lua reads undefined global " .. tostring(k), 2) end,',
    '})',
    `local hs = dofile(${luaString(scriptPath)})`,
    'assert(type(hs) == "table" and type(hs.status) == "string", "health.lua returned no status")',
    // io.write rather than print: Lua 5.1's print stops at a NUL byte.
    'io.write(hs.status, "\\n", hs.message or "", "\\n")',
  ].join('\n');
  const out = run(
    'lua5.1',
    ['-e', driver],
    "the Argo CD health check test needs Debian's lua5.1 interpreter: run `bash test/install-deps.sh` " +
      'as root (or `apt-get install lua5.1`)',
  );
  const newline = out.indexOf('\n');
  return { status: out.slice(0, newline), message: out.slice(newline + 1).replace(/\n$/, '') };
}

const condition = (
  type: string,
  status: string,
  reason: string,
  message: string,
  observedGeneration = 1,
) => ({ type, status, reason, message, observedGeneration, lastTransitionTime: '2025-01-01T00:00:00Z' });

const aggregatedAPI = (generation: number, status?: Record<string, unknown>) => ({
  apiVersion: 'aggregation.example.com/v1alpha1',
  kind: 'AggregatedAPI',
  metadata: { name: 'widgets', generation, uid: '0b6f4d2e-0000-4000-8000-000000000001' },
  spec: { group: 'custom.example.com', versions: [{ name: 'v1', groupPriorityMinimum: 1000 }] },
  ...(status && { status }),
});

const ready = condition(
  'Ready',
  'True',
  'Ready',
  'All 2 replicas ready; APIService v1.custom.example.com available',
);

interface Case {
  name: string;
  obj: unknown;
  status: string;
  message: string;
}

const cases: Case[] = [
  {
    name: 'no status',
    obj: aggregatedAPI(1),
    status: 'Progressing',
    message: 'Waiting for the operator to report status',
  },
  {
    name: 'status without conditions',
    obj: aggregatedAPI(1, { observedGeneration: 1 }),
    status: 'Progressing',
    message: 'Waiting for the operator to report status',
  },
  {
    name: 'empty conditions',
    obj: aggregatedAPI(1, { observedGeneration: 1, conditions: [] }),
    status: 'Progressing',
    message: 'Waiting for the operator to report status',
  },
  {
    name: 'stale status.observedGeneration (even with Ready True)',
    obj: aggregatedAPI(3, { observedGeneration: 2, conditions: [{ ...ready, observedGeneration: 2 }] }),
    status: 'Progressing',
    message: 'Waiting for the operator to observe generation 3',
  },
  {
    name: "stale Ready condition's observedGeneration",
    obj: aggregatedAPI(3, { observedGeneration: 3, conditions: [{ ...ready, observedGeneration: 2 }] }),
    status: 'Progressing',
    message: 'Waiting for the operator to observe generation 3',
  },
  {
    name: 'stale generation without status.observedGeneration',
    obj: aggregatedAPI(2, { conditions: [ready] }),
    status: 'Progressing',
    message: 'Waiting for the operator to observe generation 2',
  },
  {
    name: 'Degraded True (wins over Ready True)',
    obj: aggregatedAPI(1, {
      observedGeneration: 1,
      conditions: [
        ready,
        condition(
          'Degraded',
          'True',
          'APIServiceConflict',
          'APIService v1.custom.example.com is owned by another AggregatedAPI',
        ),
      ],
    }),
    status: 'Degraded',
    message: 'APIServiceConflict: APIService v1.custom.example.com is owned by another AggregatedAPI',
  },
  {
    name: 'Ready True',
    obj: aggregatedAPI(1, {
      observedGeneration: 1,
      conditions: [
        ready,
        condition('CertificatesReady', 'True', 'Issued', 'Serving certificate valid until 2026-01-01'),
        condition('Available', 'True', 'Passed', 'all checks passed'),
        condition('Progressing', 'False', 'Complete', 'Reconciled'),
        condition('Degraded', 'False', 'AsExpected', ''),
      ],
    }),
    status: 'Healthy',
    message: 'All 2 replicas ready; APIService v1.custom.example.com available',
  },
  {
    name: 'Progressing True',
    obj: aggregatedAPI(1, {
      observedGeneration: 1,
      conditions: [
        condition('Ready', 'False', 'CertificateRotation', 'Rolling out the new serving certificate'),
        condition('Progressing', 'True', 'CertificateRotation', 'Rolled out to 1 of 2 replicas'),
        condition('Degraded', 'False', 'AsExpected', ''),
      ],
    }),
    status: 'Progressing',
    message: 'CertificateRotation: Rolled out to 1 of 2 replicas',
  },
  {
    name: 'Ready False, Available False, no Degraded',
    obj: aggregatedAPI(1, {
      observedGeneration: 1,
      conditions: [
        condition(
          'Ready',
          'False',
          'FailedDiscoveryCheck',
          'failing or missing response from https://10.0.0.1:443',
        ),
        condition('Available', 'False', 'FailedDiscoveryCheck', 'failing or missing response'),
      ],
    }),
    status: 'Progressing',
    message: 'FailedDiscoveryCheck: failing or missing response from https://10.0.0.1:443',
  },
  {
    name: "Ready False, Available True: still Ready's reason",
    obj: aggregatedAPI(1, {
      observedGeneration: 1,
      conditions: [
        condition('Ready', 'False', 'ReplicasNotReady', '1 of 2 replicas ready'),
        condition('Available', 'True', 'Passed', 'all checks passed'),
      ],
    }),
    status: 'Progressing',
    message: 'ReplicasNotReady: 1 of 2 replicas ready',
  },
  {
    name: 'Ready Unknown',
    obj: aggregatedAPI(1, {
      observedGeneration: 1,
      conditions: [condition('Ready', 'Unknown', 'Pending', 'not checked yet')],
    }),
    status: 'Progressing',
    message: 'Waiting for condition Ready',
  },
  {
    name: 'no Ready condition',
    obj: aggregatedAPI(1, {
      observedGeneration: 1,
      conditions: [condition('CertificatesReady', 'True', 'Issued', 'issued')],
    }),
    status: 'Progressing',
    message: 'Waiting for condition Ready',
  },
  {
    name: 'missing fields: conditions without type, status, reason or message',
    obj: { metadata: {}, status: { conditions: [{}, { reason: 'NoType' }, { type: 'Ready' }] } },
    status: 'Progressing',
    message: 'Waiting for condition Ready',
  },
  {
    name: 'missing fields: only entries without a type',
    obj: { status: { conditions: [{ status: 'True' }, 'not a condition'] } },
    status: 'Progressing',
    message: 'Waiting for the operator to report status',
  },
  {
    name: 'missing fields: Degraded True without reason or message',
    obj: { metadata: { generation: 1 }, status: { conditions: [{ type: 'Degraded', status: 'True' }] } },
    status: 'Degraded',
    message: 'Degraded is True',
  },
  {
    name: 'missing fields: Degraded True with only a message',
    obj: {
      metadata: { generation: 1 },
      status: { conditions: [{ type: 'Degraded', status: 'True', message: 'two owners' }] },
    },
    status: 'Degraded',
    message: 'two owners',
  },
  {
    name: 'missing fields: Ready True with only a reason, no metadata, no generations',
    obj: { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'AllReady' }] } },
    status: 'Healthy',
    message: 'AllReady',
  },
  {
    name: 'missing fields: Ready True with neither reason nor message',
    obj: { status: { conditions: [{ type: 'Ready', status: 'True', message: '' }] } },
    status: 'Healthy',
    message: 'Ready',
  },
  {
    name: 'missing fields: Progressing True with only a reason',
    obj: { status: { conditions: [{ type: 'Progressing', status: 'True', reason: 'Deploying' }] } },
    status: 'Progressing',
    message: 'Deploying',
  },
  {
    name: 'missing fields: status and conditions of the wrong type',
    obj: { metadata: 'x', status: { conditions: 'none' } },
    status: 'Progressing',
    message: 'Waiting for the operator to report status',
  },
];

describe('Argo CD health check for AggregatedAPI (Lua 5.1)', () => {
  test.each(cases)('$name', ({ obj, status, message }) => {
    expect(health(obj)).toEqual({ status, message });
  });

  test('messages pass through unchanged (quotes, backslashes, newlines, UTF-8)', () => {
    const message = 'quote " backslash \\ tab \t newline \n CR \r NUL \0 ]] ü 日本 ✓ \\065';
    const obj = aggregatedAPI(1, { observedGeneration: 1, conditions: [{ ...ready, message }] });
    expect(health(obj)).toEqual({ status: 'Healthy', message });
  });
});

describe('config/argocd kustomization', () => {
  const script = readFileSync(path.join(repoRoot, scriptPath), 'utf8');

  test('renders argocd-cm in namespace argocd with health.lua under the health key, exactly', () => {
    const documents = parseAllDocuments(kubectl(['kustomize', 'config/argocd'])).map((doc) => doc.toJS());
    expect(documents).toHaveLength(1);
    const [configMap] = documents;
    expect(configMap).toMatchObject({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'argocd-cm', namespace: 'argocd', labels: { 'app.kubernetes.io/part-of': 'argocd' } },
    });
    expect(Object.keys(configMap.data)).toEqual([healthKey]);
    expect(configMap.data[healthKey]).toBe(script);
  });

  test('the documented patch of an existing argocd-cm adds the key and keeps the others', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'argocd-cm-'));
    try {
      const existing = path.join(dir, 'argocd-cm.yaml');
      const patch = path.join(dir, 'argocd-cm-patch.yaml');
      writeFileSync(
        existing,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: 'argocd-cm',
            namespace: 'argocd',
            labels: { 'app.kubernetes.io/name': 'argocd-cm', 'app.kubernetes.io/part-of': 'argocd' },
          },
          data: { url: 'https://argocd.example.com' },
        }),
      );
      writeFileSync(patch, kubectl(['kustomize', 'config/argocd']));
      const patched = JSON.parse(
        kubectl(['patch', '--local', '-f', existing, '--patch-file', patch, '-o', 'json']),
      );
      expect(patched.metadata.labels).toEqual({
        'app.kubernetes.io/name': 'argocd-cm',
        'app.kubernetes.io/part-of': 'argocd',
      });
      expect(patched.data).toEqual({ url: 'https://argocd.example.com', [healthKey]: script });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
