/**
 * The objects one AggregatedAPI should own, as server-side-apply documents: exactly the fields the
 * operator has an opinion on, so that fields others set (an HPA's replicas excepted, which the spec
 * owns) stay theirs and the apply is a no-op when nothing drifted.
 */
import { WIDGET_VERSION_NAMES } from '../../widget-server/apis/widgets';
import { ownedNames, ownerLabels, SPEC_DEFAULTS, usesEtcd, type AggregatedAPI } from '../api/aggregated-api';
import type { KubeObject } from '../../shared/kube/rest';
import type { KeyPair } from './certificates';
import { b64, meta } from './owned-meta';
import { clientURLs, etcdNames, managedEtcd } from './etcd/names';

export * from './desired-rbac';

const SERVING_CERT_DIR = '/var/run/aggregated-api/serving-cert';
const ETCD_CLIENT_DIR = '/var/run/aggregated-api/etcd-client';
/**
 * V8 flags of the Widget server. A young generation of 2 x 4 MiB instead of Node's 2 x 16 MiB: with 10k
 * widgets on etcd, RSS 160 -> 136 MiB, and no CPU per request difference beyond run-to-run noise
 * (bench/README.md). The Dockerfile's CMD carries the same flags (a unit test compares them).
 */
export const WIDGET_SERVER_NODE_FLAGS = ['--max-semi-space-size=4'];
/** The Widget server's entrypoint in the project image; other images run their own entrypoint. */
export const WIDGET_SERVER_COMMAND = ['node', ...WIDGET_SERVER_NODE_FLAGS, 'dist/widget-server/main.js'];

export function serviceDnsNames(api: AggregatedAPI): string[] {
  const { server, namespace } = ownedNames(api);
  return [
    server,
    `${server}.${namespace}`,
    `${server}.${namespace}.svc`,
    `${server}.${namespace}.svc.cluster.local`,
  ];
}

export function selectorLabels(api: AggregatedAPI): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'aggregated-apiserver',
    'app.kubernetes.io/instance': api.metadata.name,
  };
}

/** A Secret with `data` given as text; `resourceVersion` makes the apply fail if it changed meanwhile. */
export function secret(
  api: AggregatedAPI,
  name: string,
  type: string,
  data: Record<string, string>,
  resourceVersion?: string,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { ...meta(api, name, api.spec.namespace), ...(resourceVersion ? { resourceVersion } : {}) },
    type,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

export function caSecret(api: AggregatedAPI, data: Record<string, string>, resourceVersion?: string) {
  return secret(api, ownedNames(api).caSecret, 'Opaque', data, resourceVersion);
}

export function servingSecret(
  api: AggregatedAPI,
  serving: KeyPair,
  caCertPem: string,
  resourceVersion?: string,
) {
  const data = { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem, 'ca.crt': caCertPem };
  return secret(api, ownedNames(api).servingSecret, 'kubernetes.io/tls', data, resourceVersion);
}

/**
 * How a server pod ends (the server's http/lifecycle.ts). With etcd, other replicas take over: after
 * SIGTERM the server serves on for `delaySeconds` while the pod leaves its Service's endpoints, then
 * drains. With the embedded store there is no other replica (Recreate starts the new pod only once this
 * one is gone), so any delay would only lengthen the outage: it drains at once. `drainSeconds` bounds
 * how long requests in flight may take (the server's --shutdown-grace-seconds); the pod's grace period
 * covers both with a margin, so the kubelet never kills a drain that is still within its bounds.
 */
export function shutdownTiming(spec: AggregatedAPI['spec']): {
  delaySeconds: number;
  drainSeconds: number;
  terminationGracePeriodSeconds: number;
} {
  const delaySeconds = usesEtcd(spec) ? 5 : 0;
  const drainSeconds = 30;
  return { delaySeconds, drainSeconds, terminationGracePeriodSeconds: delaySeconds + drainSeconds + 5 };
}

/**
 * Which of spec.versions the server can serve. The operator's own image serves the Widget kind's
 * versions and is told which of them to serve; a version it does not have is reported (condition
 * reason VersionNotServed) and gets no APIService, rather than an APIService that can never become
 * available. Another image's versions are its own business: all are registered.
 */
export function servedVersions(
  api: AggregatedAPI,
  defaultImage: boolean,
): { served: string[]; unserved: string[] } {
  const names = api.spec.versions.map((v) => v.name);
  if (!defaultImage) return { served: names, unserved: [] };
  return {
    served: names.filter((n) => WIDGET_VERSION_NAMES.includes(n)),
    unserved: names.filter((n) => !WIDGET_VERSION_NAMES.includes(n)),
  };
}

/** The port the server's container serves HTTPS on (spec.port). */
export function serverPort(spec: AggregatedAPI['spec']): number {
  return spec.port ?? SPEC_DEFAULTS.port;
}

/**
 * The container's arguments. The Widget server gets its own flags; another image gets spec.args as
 * they are, or else the standard flags every k8s.io/apiserver-based server takes (serving and etcd,
 * which the operator provides the files and endpoints for), then spec.extraArgs. Nothing else is
 * added to an image the operator does not know: an unknown flag stops such a server at start.
 */
export function serverArgs(api: AggregatedAPI, defaultImage: boolean): string[] {
  const spec = api.spec;
  if (!defaultImage && spec.args) return [...spec.args];
  const shutdown = shutdownTiming(spec);
  const { served } = servedVersions(api, defaultImage);
  const args = [
    '--bind-address=0.0.0.0',
    `--secure-port=${serverPort(spec)}`,
    `--tls-cert-file=${SERVING_CERT_DIR}/tls.crt`,
    `--tls-private-key-file=${SERVING_CERT_DIR}/tls.key`,
  ];
  const etcd = spec.storage?.etcd;
  if (etcd) {
    const endpoints = managedEtcd(api) ? clientURLs(api) : (etcd.endpoints ?? []);
    args.push(`--etcd-servers=${endpoints.join(',')}`);
    args.push(`--etcd-prefix=${etcd.prefix ?? `/registry/${spec.group}`}`);
    if (etcdClientSecretName(api)) {
      args.push(
        `--etcd-cafile=${ETCD_CLIENT_DIR}/ca.crt`,
        `--etcd-certfile=${ETCD_CLIENT_DIR}/tls.crt`,
        `--etcd-keyfile=${ETCD_CLIENT_DIR}/tls.key`,
      );
    }
  }
  const own = defaultImage
    ? [
        `--api-group=${spec.group}`,
        ...(served.length ? [`--api-versions=${served.join(',')}`] : []),
        `--shutdown-delay-duration=${shutdown.delaySeconds}s`,
        `--shutdown-grace-seconds=${shutdown.drainSeconds}`,
        '--delegate-auth=true',
        // The Widget server runs the Widget controller (leader-elected among its replicas).
        '--widget-controller=true',
        `--leader-election-namespace=${ownedNames(api).namespace}`,
      ]
    : [];
  return [...own, ...args, ...(spec.extraArgs ?? [])];
}

/** The Secret with the server's etcd client certificate: the managed etcd's, or spec's tlsSecretName. */
export function etcdClientSecretName(api: AggregatedAPI): string | undefined {
  if (managedEtcd(api)) return etcdNames(api).clientSecret;
  return api.spec.storage?.etcd?.tlsSecretName;
}

/** Pod template annotation with the ServiceAccount's uid (see deployment()). */
export const SERVICE_ACCOUNT_UID_ANNOTATION = 'aggregation.example.com/serviceaccount-uid';
/** Pod template annotation with the default image's digest (see deployment()). */
export const IMAGE_ID_ANNOTATION = 'aggregation.example.com/image-id';
/**
 * Pod template annotation with a digest of the managed etcd's client certificate and bundle: a server
 * reads them once, at start, so a renewed certificate or a CA rotation step rolls the replicas.
 */
export const ETCD_CLIENT_DIGEST_ANNOTATION = 'aggregation.example.com/etcd-client-digest';

/**
 * `serviceAccountUid`: a recreated ServiceAccount invalidates the tokens of pods started under the old
 * one (tokens are bound to its uid) and delegated auth then fails with 401; recording the uid in the pod
 * template rolls the pods onto fresh tokens when it changes.
 */
export function deployment(
  api: AggregatedAPI,
  image: string,
  defaultImage: boolean,
  serviceAccountUid?: string,
  /** The default image's digest: a new build under the same tag rolls the pods. */
  imageID?: string,
  /** Digest of the managed etcd's client certificate and bundle (ETCD_CLIENT_DIGEST_ANNOTATION). */
  etcdClientDigest?: string,
): KubeObject {
  const { server, namespace, servingSecret: servingSecretName } = ownedNames(api);
  const spec = api.spec;
  const labels = { ...selectorLabels(api), ...ownerLabels(api) };
  const etcdSecret = etcdClientSecretName(api);
  const annotations = {
    ...(serviceAccountUid ? { [SERVICE_ACCOUNT_UID_ANNOTATION]: serviceAccountUid } : {}),
    ...(imageID ? { [IMAGE_ID_ANNOTATION]: imageID } : {}),
    ...(etcdClientDigest ? { [ETCD_CLIENT_DIGEST_ANNOTATION]: etcdClientDigest } : {}),
  };
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'https', scheme: 'HTTPS' },
    periodSeconds,
    timeoutSeconds: 3,
    failureThreshold,
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(api, server, namespace),
    spec: {
      replicas: spec.replicas ?? SPEC_DEFAULTS.replicas,
      selector: { matchLabels: selectorLabels(api) },
      // The embedded store lives in the process: never run two at once. With etcd, roll one at a time.
      strategy: usesEtcd(spec)
        ? { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } }
        : { type: 'Recreate' },
      template: {
        metadata: { labels, ...(Object.keys(annotations).length ? { annotations } : {}) },
        spec: {
          terminationGracePeriodSeconds: shutdownTiming(spec).terminationGracePeriodSeconds,
          serviceAccountName: server,
          automountServiceAccountToken: true,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            runAsGroup: 65532,
            // Secret volumes are root-owned with mode 0440; fsGroup makes them readable to the server.
            fsGroup: 65532,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
          ...(spec.priorityClassName ? { priorityClassName: spec.priorityClassName } : {}),
          affinity: spec.affinity ?? {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    topologyKey: 'kubernetes.io/hostname',
                    labelSelector: { matchLabels: selectorLabels(api) },
                  },
                },
              ],
            },
          },
          containers: [
            {
              name: 'apiserver',
              image,
              imagePullPolicy: spec.imagePullPolicy ?? SPEC_DEFAULTS.imagePullPolicy,
              ...(defaultImage ? { command: WIDGET_SERVER_COMMAND } : {}),
              args: serverArgs(api, defaultImage),
              ports: [{ name: 'https', containerPort: serverPort(spec), protocol: 'TCP' }],
              ...(spec.env?.length ? { env: spec.env } : {}),
              // Probed every second, as kubeadm probes kube-apiserver: a new pod joins its Service's
              // endpoints within a second of being able to serve, which is what a rollout waits for.
              readinessProbe: probe(spec.probes?.readinessPath ?? SPEC_DEFAULTS.probes.readinessPath, 1, 3),
              livenessProbe: probe(spec.probes?.livenessPath ?? SPEC_DEFAULTS.probes.livenessPath, 10, 6),
              ...(spec.resources ? { resources: spec.resources } : {}),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'serving-cert', mountPath: SERVING_CERT_DIR, readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
                ...(etcdSecret ? [{ name: 'etcd-client', mountPath: ETCD_CLIENT_DIR, readOnly: true }] : []),
              ],
            },
          ],
          volumes: [
            { name: 'serving-cert', secret: { secretName: servingSecretName, defaultMode: 0o440 } },
            { name: 'tmp', emptyDir: {} },
            ...(etcdSecret
              ? [{ name: 'etcd-client', secret: { secretName: etcdSecret, defaultMode: 0o440 } }]
              : []),
          ],
        },
      },
    },
  };
}

export function service(api: AggregatedAPI): KubeObject {
  const { server, namespace } = ownedNames(api);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(api, server, namespace),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(api),
      ports: [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }],
    },
  };
}

export function podDisruptionBudget(api: AggregatedAPI): KubeObject {
  const { server, namespace } = ownedNames(api);
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(api, server, namespace),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(api) } },
  };
}

/** The APIServices of `versions` (default: every version in spec.versions). */
export function apiServices(
  api: AggregatedAPI,
  caBundle: string,
  versions?: readonly string[],
): KubeObject[] {
  const { server, namespace } = ownedNames(api);
  const registered = api.spec.versions.filter((v) => !versions || versions.includes(v.name));
  return registered.map((v) => ({
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: meta(api, `${v.name}.${api.spec.group}`),
    spec: {
      group: api.spec.group,
      version: v.name,
      groupPriorityMinimum: v.groupPriorityMinimum ?? SPEC_DEFAULTS.versions.groupPriorityMinimum,
      versionPriority: v.versionPriority ?? SPEC_DEFAULTS.versions.versionPriority,
      service: { namespace, name: server, port: 443 },
      caBundle: b64(caBundle),
      // Owned explicitly, so that an edit turning verification off is reverted, not kept beside the bundle.
      insecureSkipTLSVerify: false,
    },
  }));
}
