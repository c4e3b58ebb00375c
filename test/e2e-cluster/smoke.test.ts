/**
 * Proves the local test cluster is a real one: a Deployment of the project's image becomes Available,
 * its Service answers through the ClusterIP from another pod, a Secret update reaches the mounted file,
 * deleting an owner garbage-collects its dependent, deleting a namespace finishes, and no pod IP is held
 * twice on the node (pod-network.ts).
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ensureClusterUp, eventually, k, withLogTails } from './cluster';
import { podNetworkConflicts } from './pod-network';

jest.setTimeout(15 * 60 * 1000);

const ns = `smoke-${randomBytes(3).toString('hex')}`;
const PROJECT_IMAGE = 'localhost/aggregator-operator:dev';
const NODE_IMAGE = 'localhost/node-base:20';

const nodePod = (name: string, script: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      restartPolicy: 'Never',
      // node as PID 1 ignores SIGTERM; do not make namespace deletion wait out the default 30 s grace.
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsNonRoot: true, runAsUser: 65532 },
      containers: [
        { name: 'main', image: NODE_IMAGE, imagePullPolicy: 'Never', args: ['-e', script], ...extra },
      ],
      ...((extra.volumesSpec as object) ? { volumes: extra.volumesSpec } : {}),
    },
  });

beforeAll(async () => {
  ensureClusterUp();
  await k(['create', 'namespace', ns]);
});

afterAll(async () => {
  await k(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined);
});

test(
  'a Deployment of the project image becomes Available and its Service answers from a pod',
  withLogTails(async () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'widget', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'widget' } },
        template: {
          metadata: { labels: { app: 'widget' } },
          spec: {
            containers: [
              {
                name: 'server',
                image: PROJECT_IMAGE,
                imagePullPolicy: 'Never',
                args: [
                  'dist/widget-server/main.js',
                  '--bind-address=0.0.0.0',
                  '--secure-port=8443',
                  '--local-dir=/tmp/widget',
                  '--delegate-auth=false',
                ],
                ports: [{ name: 'https', containerPort: 8443 }],
                // Liveness starts only once the server answered: a slow start on a loaded bed (a CI run
                // once saw 5 minutes of refused probes with liveness restarts piling up back-offs) is
                // waited for, not killed every 30 s.
                startupProbe: {
                  httpGet: { path: '/livez', port: 8443, scheme: 'HTTPS' },
                  periodSeconds: 2,
                  failureThreshold: 90,
                },
                readinessProbe: {
                  httpGet: { path: '/readyz', port: 8443, scheme: 'HTTPS' },
                  periodSeconds: 2,
                },
                livenessProbe: {
                  httpGet: { path: '/livez', port: 8443, scheme: 'HTTPS' },
                  periodSeconds: 10,
                },
                securityContext: {
                  runAsNonRoot: true,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: false,
                },
              },
            ],
          },
        },
      },
    };
    await k(['apply', '-f', '-'], JSON.stringify(deployment));
    await k(['-n', ns, 'wait', '--for=condition=Available', 'deployment/widget', '--timeout=300s']);
    await k(['-n', ns, 'expose', 'deployment/widget', '--port=443', '--target-port=8443', '--name=widget']);
    const clusterIP = (
      await k(['-n', ns, 'get', 'service', 'widget', '-o', 'jsonpath={.spec.clusterIP}'])
    ).trim();
    expect(clusterIP).toMatch(/^10\.96\./);
    // kube-proxy programs the new Service within a sync period; the client retries until it answers.
    const script = `const https=require('https');let n=0;(function attempt(){https.get({host:'${clusterIP}',port:443,path:'/readyz',rejectUnauthorized:false},r=>{let b='';r.on('data',d=>b+=d);r.on('end',()=>console.log('status='+r.statusCode+' body='+b))}).on('error',e=>{if(++n>60){console.error(e.message);process.exit(1)}setTimeout(attempt,1000)})})()`;
    await k(['apply', '-f', '-'], nodePod('client', script));
    await eventually(
      'client pod to succeed',
      async () =>
        (await k(['-n', ns, 'get', 'pod', 'client', '-o', 'jsonpath={.status.phase}'])) === 'Succeeded',
    );
    expect(await k(['-n', ns, 'logs', 'client'])).toMatch(/status=200 body=ok/);
  }),
);

test(
  'a Secret update reaches the mounted file',
  withLogTails(async () => {
    await k(['-n', ns, 'create', 'secret', 'generic', 'data', '--from-literal=value=first']);
    const script = `const fs=require('fs');setInterval(()=>console.log('value='+fs.readFileSync('/data/value','utf8')),1000)`;
    const pod = JSON.parse(nodePod('reader', script)) as {
      spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> };
    };
    pod.spec.restartPolicy = 'Always';
    pod.spec.containers[0].volumeMounts = [{ name: 'data', mountPath: '/data' }];
    pod.spec.volumes = [{ name: 'data', secret: { secretName: 'data' } }];
    await k(['apply', '-f', '-'], JSON.stringify(pod));
    await k(['-n', ns, 'wait', '--for=condition=Ready', 'pod/reader', '--timeout=180s']);
    await eventually('first value', async () =>
      (await k(['-n', ns, 'logs', 'reader'])).includes('value=first'),
    );
    await k([
      '-n',
      ns,
      'create',
      'secret',
      'generic',
      'data',
      '--from-literal=value=second',
      '--dry-run=client',
      '-o',
      'json',
    ]).then((json) => k(['replace', '-f', '-'], json));
    await eventually(
      'the updated value in the mounted file',
      async () => (await k(['-n', ns, 'logs', 'reader', '--tail=3'])).includes('value=second'),
      180000,
    );
  }),
);

test(
  'deleting an owner garbage-collects its dependent',
  withLogTails(async () => {
    await k(['-n', ns, 'create', 'configmap', 'owner']);
    const uid = (await k(['-n', ns, 'get', 'configmap', 'owner', '-o', 'jsonpath={.metadata.uid}'])).trim();
    const dependent = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'dependent',
        namespace: ns,
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid }],
      },
    };
    await k(['apply', '-f', '-'], JSON.stringify(dependent));
    await k(['-n', ns, 'delete', 'configmap', 'owner']);
    await eventually('the dependent to be collected', async () =>
      (await k(['-n', ns, 'get', 'configmap', '-o', 'name'])).includes('configmap/dependent') ? false : true,
    );
  }),
);

test(
  'deleting a namespace finishes',
  withLogTails(async () => {
    await k(['delete', 'namespace', ns, '--timeout=180s']);
    const left = await k(['get', 'namespace', ns, '--ignore-not-found', '-o', 'name']);
    expect(left.trim()).toBe('');
  }),
);

test(
  'no pod IP is held by two network namespaces; a stale namespace holding a pod IP is caught',
  withLogTails(async () => {
    expect(await podNetworkConflicts()).toEqual([]);
    // A stale namespace, as an earlier bed or a failed teardown leaves one, holding a running pod's IP.
    // It is held by a process of its own (no `ip netns add`: see pod-network.ts), and its veth pair
    // stays inside it, off cni0, so that the real pod's traffic is not disturbed.
    const pods = JSON.parse(await k(['get', 'pods', '-A', '-o', 'json'])).items as {
      spec: { hostNetwork?: boolean };
      status: { phase: string; podIP?: string };
    }[];
    const podIP = pods.find((p) => !p.spec.hostNetwork && p.status.phase === 'Running' && p.status.podIP)
      ?.status.podIP;
    expect(podIP).toBeDefined();
    const holder = spawn('unshare', ['--net', 'sleep', '300'], { stdio: 'ignore' });
    try {
      await eventually('the stale namespace to exist', async () => {
        const inside = (...args: string[]) =>
          promisify(execFile)('nsenter', ['-t', String(holder.pid), '-n', ...args]);
        const links = await inside('ip', '-o', 'link');
        if (!links.stdout.includes('lo:')) return false;
        if (!links.stdout.includes('eth0')) {
          await inside('ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0');
          await inside('ip', 'addr', 'add', `${podIP}/24`, 'dev', 'eth0');
        }
        return true;
      });
      const problems = await podNetworkConflicts();
      expect(problems).toEqual([expect.stringContaining(`${podIP} is held by 2 network namespaces`)]);
      expect(problems[0]).toContain(`pid ${holder.pid}`);
    } finally {
      holder.kill('SIGKILL');
    }
    await eventually(
      'the stale namespace to be gone',
      async () => (await podNetworkConflicts()).length === 0,
    );
  }),
);
