/**
 * Reconciles one AggregatedAPI: finalizer, certificates, every owned object by server-side apply (so
 * drift is repaired on every pass), stale APIServices, and the status that reports it all. Level-
 * triggered: it reads the current state each time (certificate Secrets and APIServices live, never from
 * a cache, since rotation decisions must not act on stale data) and returns when to look again.
 */
import { decodeSecretData } from './owned-meta';
import { WIDGET_VERSION_NAMES } from '../../widget-server/apis/widgets';
import type { Logger } from 'pino';
import { rfc3339Seconds } from '../../shared/time';
import {
  API_VERSION,
  certificatePolicy,
  FINALIZER,
  KIND,
  OWNER_LABEL,
  ownedNames,
  SPEC_DEFAULTS,
  type AggregatedAPI,
  type AggregatedAPIStatus,
  type Condition,
} from '../api/aggregated-api';
import type { OperatorMetrics } from '../controller/metrics';
import type { WorkResult } from '../../shared/controller/workqueue';
import type { EventRecorder } from '../kube/events';
import {
  AGGREGATED_API,
  API_SERVICE,
  FIELD_MANAGER,
  CLUSTER_ROLE,
  CLUSTER_ROLE_BINDING,
  DEPLOYMENT,
  NAMESPACE,
  POD,
  POD_DISRUPTION_BUDGET,
  ROLE,
  ROLE_BINDING,
  SECRET,
  SERVICE,
  SERVICE_ACCOUNT,
} from '../kube/kinds';
import { isNotFound, type KubeObject, type KubeRest, type ResourceRef } from '../../shared/kube/rest';
import { DEFAULT_ETCD_IMAGE } from './etcd/names';
import type { ServerPod } from './served-certificates';
import { reconcileStorage } from './etcd/reconcile-etcd';
import {
  caStateToData,
  certificateFingerprint,
  planCertificates,
  type CertificatePlan,
} from './certificates';
import { computeConditions, type Observation } from './conditions';
import * as desired from './desired';
import {
  availableSince,
  checkDiscovery,
  DISCOVERY_RETRY_MS,
  DISCOVERY_SETTLING_RETRY_MS,
  observeApiService,
  observeDeployment,
  type ApiServiceObject,
  type DeploymentObject,
} from './observe';

/** StorageReady reasons of stores that lose acknowledged writes: announced with a Warning event. */
const NOT_DURABLE_REASONS = new Set(['MemoryOnly', 'NotDurable']);
export const FINALIZER_FIELD_MANAGER = `${FIELD_MANAGER}-finalizer`;
/** How often a healthy AggregatedAPI is looked at even when nothing changes. */
export const RESYNC_MS = 5 * 60_000;

interface Secret extends KubeObject {
  data?: Record<string, string>;
}
class DegradedError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly retryAfterMs = 30_000,
  ) {
    super(message);
  }
}

export interface ReconcilerOptions {
  /** Image for AggregatedAPIs that name none: the operator's own (the Widget server). */
  defaultImage?: string;
  /**
   * The digest the default image resolves to, when known: recorded in the server's pod template so that
   * an image rebuilt under the same tag (a new operator release) rolls the servers once.
   */
  defaultImageID?: string;
  /** The etcd image of a managed etcd that names none. */
  defaultEtcdImage?: string;
  /** Which certificates the replicas serve; injected so the TLS probe can be replaced where pods are unreachable. */
  servedFingerprints: (pods: KubeObject[], port: number, servername: string) => Promise<string[] | undefined>;
}

export class Reconciler {
  /** What each AggregatedAPI's replicas were last seen serving, and which pods they were. */
  private readonly served = new Map<string, { podsKey: string; fingerprints: string[] }>();

  constructor(
    private readonly rest: KubeRest,
    private readonly events: EventRecorder,
    private readonly metrics: OperatorMetrics,
    private readonly logger: Logger,
    private readonly options: ReconcilerOptions,
  ) {}

  /**
   * Which certificates the replicas serve, asked by a TLS handshake with each pod, except when the same
   * pods (uid, IP, restarts) already answered with the certificate the Secret holds now: a replica keeps
   * serving its mounted certificate until that Secret changes, so asking again on every pass would only
   * cost each pod a handshake (issue 9 named this cost).
   */
  private async servedFingerprints(
    apiName: string,
    pods: KubeObject[],
    port: number,
    servername: string,
    servingCertPem: string | undefined,
  ): Promise<string[] | undefined> {
    const podsKey = JSON.stringify([
      port,
      servername,
      ...pods
        .map((p) => {
          const status = (p as ServerPod).status;
          const restarts = (status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0).join('+');
          return `${p.metadata?.uid}/${status?.podIP}/${restarts}/${p.metadata?.deletionTimestamp ?? ''}`;
        })
        .sort(),
    ]);
    let current: string | undefined;
    try {
      current = servingCertPem ? certificateFingerprint(servingCertPem) : undefined;
    } catch {
      // Not a certificate: the plan replaces it, and the replicas are asked after that.
    }
    const known = this.served.get(apiName);
    if (known && known.podsKey === podsKey && current && known.fingerprints.every((f) => f === current)) {
      return known.fingerprints;
    }
    const fingerprints = await this.options.servedFingerprints(pods, port, servername);
    if (fingerprints) this.served.set(apiName, { podsKey, fingerprints });
    else this.served.delete(apiName);
    return fingerprints;
  }

  async reconcile(name: string): Promise<WorkResult> {
    const api = await this.rest.getOrUndefined<AggregatedAPI & KubeObject>(AGGREGATED_API, name);
    if (!api) {
      this.metrics.forget(name);
      this.served.delete(name);
      return;
    }
    const log = this.logger.child({ aggregatedAPI: name, generation: api.metadata.generation });
    if (api.metadata.deletionTimestamp) return this.finalize(api, log);
    if (!api.metadata.finalizers?.includes(FINALIZER)) await this.setFinalizer(api, true);

    const previousConditions = api.status?.conditions;
    const observation: Observation = {
      generation: api.metadata.generation ?? 0,
      deployment: {
        exists: false,
        desiredReplicas: api.spec.replicas ?? SPEC_DEFAULTS.replicas,
        readyReplicas: 0,
        updatedReplicas: 0,
        observedLatest: false,
      },
      apiServices: [],
    };
    const status: AggregatedAPIStatus = { observedGeneration: api.metadata.generation };
    let requeueAfterMs = RESYNC_MS;
    let failure: unknown;
    try {
      const result = await this.converge(api, observation, status, log);
      requeueAfterMs = result.requeueAfterMs;
    } catch (e) {
      if (e instanceof DegradedError) {
        observation.degraded = { reason: e.reason, message: e.message };
        requeueAfterMs = e.retryAfterMs;
      } else {
        observation.degraded = {
          reason: 'ReconcileError',
          message: e instanceof Error ? e.message : String(e),
        };
        failure = e;
      }
    }
    status.conditions = computeConditions(observation, previousConditions, new Date());
    status.apiServices = observation.apiServices;
    status.storage = status.storage ?? api.status?.storage;
    status.replicas = observation.deployment.desiredReplicas;
    status.readyReplicas = observation.deployment.readyReplicas;
    await this.writeStatus(api, status);
    await this.recordTransitions(api, previousConditions, status.conditions);
    const isReady = status.conditions.find((c) => c.type === 'Ready')?.status === 'True';
    this.metrics.ready.set({ aggregatedapi: name }, isReady ? 1 : 0);
    if (failure) throw failure;
    if (!isReady) requeueAfterMs = Math.min(requeueAfterMs, 5_000);
    return { requeueAfterMs };
  }

  private async converge(
    api: AggregatedAPI & KubeObject,
    obs: Observation,
    status: AggregatedAPIStatus,
    log: Logger,
  ): Promise<{ requeueAfterMs: number }> {
    const names = ownedNames(api);
    // Everything this pass reads, read at once: each is a round trip to kube-apiserver, and a pass that
    // waits for them one by one keeps the next AggregatedAPI in the queue that much longer (issue 9).
    const [namespace, apiServiceObjects, caSecret, servingSecret, pods] = await Promise.all([
      this.rest.getOrUndefined(NAMESPACE, names.namespace),
      Promise.all(names.apiServices.map((n) => this.rest.getOrUndefined<ApiServiceObject>(API_SERVICE, n))),
      this.rest.getOrUndefined<Secret>(SECRET, names.caSecret, names.namespace),
      this.rest.getOrUndefined<Secret>(SECRET, names.servingSecret, names.namespace),
      this.rest.list(POD, {
        namespace: names.namespace,
        labelSelector: Object.entries(desired.selectorLabels(api))
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      }),
    ]);
    if (!namespace) {
      throw new DegradedError(
        'NamespaceNotFound',
        `namespace ${names.namespace} does not exist; create it first`,
        10_000,
      );
    }
    let policy;
    try {
      policy = certificatePolicy(api.spec);
    } catch (e) {
      throw new DegradedError('InvalidSpec', (e as Error).message);
    }
    const image = api.spec.image ?? this.options.defaultImage;
    if (!image) {
      throw new DegradedError(
        'NoImage',
        'spec.image is not set and the operator does not know its own image',
      );
    }

    // APIServices: refuse to take over one that another owner registered.
    const existingApiServices = new Map<string, ApiServiceObject | undefined>();
    for (const [i, apiServiceName] of names.apiServices.entries()) {
      const current = apiServiceObjects[i];
      if (current && !isOwnedBy(current, api)) {
        throw new DegradedError(
          'APIServiceConflict',
          `APIService ${apiServiceName} exists and is not owned by this AggregatedAPI; delete it or choose another group`,
        );
      }
      existingApiServices.set(apiServiceName, current);
    }

    // Certificates.
    const dnsNames = desired.serviceDnsNames(api);
    const servingData = decodeSecretData(servingSecret?.data);
    const plan = planCertificates({
      now: new Date(),
      policy,
      caData: decodeSecretData(caSecret?.data),
      servingData,
      dnsNames,
      publishedBundles: names.apiServices.map((n) => {
        const b = existingApiServices.get(n)?.spec?.caBundle;
        return b ? Buffer.from(b, 'base64').toString('utf8') : undefined;
      }),
      servedFingerprints: await this.servedFingerprints(
        api.metadata.name,
        pods.items,
        desired.serverPort(api.spec),
        dnsNames[2],
        servingData?.['tls.crt'],
      ),
    });
    await this.rest.apply(
      SECRET,
      desired.caSecret(
        api,
        caStateToData(plan.ca),
        plan.caChanged ? caSecret?.metadata?.resourceVersion : undefined,
      ),
    );
    await this.rest.apply(
      SECRET,
      desired.servingSecret(
        api,
        plan.serving,
        plan.ca.active.certPem,
        plan.servingChanged ? servingSecret?.metadata?.resourceVersion : undefined,
      ),
    );
    for (const e of plan.events) await this.events.record(api, e.type, e.reason, e.message);
    if (plan.events.length)
      log.info({ events: plan.events.map((e) => e.reason), step: plan.pendingStep }, 'certificates changed');
    status.caNotAfter = rfc3339Seconds(plan.caNotAfter);
    status.servingCertificateNotAfter = rfc3339Seconds(plan.servingNotAfter);
    this.metrics.setCertificateNotAfter(api.metadata.name, 'ca', plan.caNotAfter, policy.caRenewBeforeMs);
    this.metrics.setCertificateNotAfter(
      api.metadata.name,
      'serving',
      plan.servingNotAfter,
      policy.renewBeforeMs,
    );
    obs.certificates = {
      ok: true,
      message: `CA valid until ${status.caNotAfter}, serving certificate until ${status.servingCertificateNotAfter}`,
    };
    obs.rotationStep = plan.pendingStep;

    // Storage: a managed etcd's certificates and members come before the servers that use them.
    const storage = await reconcileStorage(api, {
      rest: this.rest,
      events: this.events,
      log,
      policy,
      defaultEtcdImage: this.options.defaultEtcdImage ?? DEFAULT_ETCD_IMAGE,
      operatorImage: this.options.defaultImage,
      previous: api.status?.storage,
    });
    obs.storage = storage.observation;
    status.storage = storage.status;
    obs.rotationStep ??= storage.pendingStep && `etcd ${storage.pendingStep}`;
    if (storage.observation.reason === 'StorageClassNotFound' && storage.observation.status === 'False')
      throw new DegradedError('StorageClassNotFound', storage.observation.message, storage.requeueAfterMs);

    // Identity and RBAC, then the server, then the APIServices that route to it.
    // The Widget controller's bindings while the operator's image runs; removed once another does.
    const controllerRbac = desired.widgetControllerBindings(api);
    const [serviceAccount] = await Promise.all([
      this.rest.apply(SERVICE_ACCOUNT, desired.serviceAccount(api)),
      this.rest.apply(CLUSTER_ROLE_BINDING, desired.authDelegatorBinding(api)),
      this.rest.apply(CLUSTER_ROLE_BINDING, desired.admissionReaderBinding(api)),
      this.rest.apply(ROLE_BINDING, desired.authReaderBinding(api)),
      this.applyOrDelete(CLUSTER_ROLE_BINDING, !api.spec.image, controllerRbac.cluster),
      this.applyOrDelete(ROLE_BINDING, !api.spec.image, controllerRbac.lease),
    ]);
    // spec.rbac: roles before their bindings, and bindings removed before their roles.
    const roles = desired.serverRoles(api);
    const { name: rolesName } = roles;
    for (const [ref, object] of [
      [CLUSTER_ROLE, roles.clusterRole],
      [CLUSTER_ROLE_BINDING, roles.clusterRoleBinding],
      [ROLE, roles.role],
      [ROLE_BINDING, roles.roleBinding],
    ] as const) {
      if (object) await this.rest.apply(ref, object);
    }
    await Promise.all([
      !roles.clusterRoleBinding && this.deleteOwned(CLUSTER_ROLE_BINDING, rolesName),
      !roles.roleBinding && this.deleteOwned(ROLE_BINDING, rolesName, names.namespace),
    ]);
    await Promise.all([
      !roles.clusterRole && this.deleteOwned(CLUSTER_ROLE, rolesName),
      !roles.role && this.deleteOwned(ROLE, rolesName, names.namespace),
    ]);
    const [, deployment] = await Promise.all([
      this.rest.apply(SERVICE, desired.service(api)),
      this.rest.apply<DeploymentObject>(
        DEPLOYMENT,
        desired.deployment(
          api,
          image,
          !api.spec.image,
          serviceAccount.metadata?.uid,
          api.spec.image ? undefined : this.options.defaultImageID,
          storage.clientDigest,
        ),
      ),
      this.rest.apply(POD_DISRUPTION_BUDGET, desired.podDisruptionBudget(api)),
    ]);
    obs.deployment = observeDeployment(deployment);
    const versions = desired.servedVersions(api, !api.spec.image);
    const since = new Map<string, Date>();
    for (const apiService of desired.apiServices(api, plan.bundle, versions.served)) {
      const applied = await this.rest.apply<ApiServiceObject>(API_SERVICE, apiService);
      obs.apiServices.push(observeApiService(applied));
      const t = availableSince(applied);
      if (t) since.set(apiService.metadata!.name!, t);
    }
    await this.deleteStaleApiServices(
      api,
      new Set(versions.served.map((v) => `${v}.${api.spec.group}`)),
      log,
    );
    if (versions.unserved.length) {
      // Converged as far as the image allows: the served versions are registered, the rest reported.
      obs.degraded = {
        reason: 'VersionNotServed',
        message: `spec.versions lists ${versions.unserved.join(', ')}, which image ${image} does not serve (it serves ${WIDGET_VERSION_NAMES.join(', ')}); no APIService is registered for ${versions.unserved.length === 1 ? 'it' : 'them'}`,
      };
    }
    obs.discoverySettling = await checkDiscovery(
      this.rest,
      api.spec.group,
      obs.apiServices,
      since,
      new Date(),
    );
    this.metrics.setApiServicesAvailable(
      api.metadata.name,
      new Map(obs.apiServices.map((s) => [s.name, s.available === 'True' && s.discovery === 'True'])),
    );
    const certificateCheck = nextCertificateCheck(plan, policy.renewBeforeMs, policy.caRenewBeforeMs);
    const discoveryFailed = obs.apiServices.some((s) => s.discovery === 'False');
    const discoverySettling = obs.discoverySettling.length > 0;
    return {
      requeueAfterMs: Math.min(
        certificateCheck,
        discoveryFailed ? DISCOVERY_RETRY_MS : Infinity,
        discoverySettling ? DISCOVERY_SETTLING_RETRY_MS : Infinity,
        storage.requeueAfterMs ?? Infinity,
      ),
    };
  }

  /** Applies `object` while `wanted`, else deletes what an earlier spec made of it. */
  private async applyOrDelete(ref: ResourceRef, wanted: boolean, object: KubeObject): Promise<void> {
    if (wanted) await this.rest.apply(ref, object);
    else await this.deleteOwned(ref, object.metadata!.name!, object.metadata?.namespace);
  }

  /** Deletes an object this operator made for an AggregatedAPI (and only such), if it exists. */
  private async deleteOwned(ref: ResourceRef, name: string, namespace?: string): Promise<void> {
    const existing = await this.rest.getOrUndefined(ref, name, namespace);
    const owner = existing?.metadata?.ownerReferences?.find((o) => o.kind === KIND && o.controller);
    if (!existing || !owner) return;
    await this.rest.delete(ref, name, namespace, { uid: existing.metadata?.uid });
  }

  private async deleteStaleApiServices(
    api: AggregatedAPI & KubeObject,
    keep: Set<string>,
    log: Logger,
  ): Promise<void> {
    for (const s of await this.ownedApiServices(api)) {
      const n = s.metadata?.name ?? '';
      if (keep.has(n)) continue;
      log.info({ apiService: n }, 'deleting APIService of a version no longer in spec');
      await this.rest.delete(API_SERVICE, n, undefined, { uid: s.metadata?.uid });
      await this.events.record(
        api,
        'Normal',
        'APIServiceDeleted',
        `deleted APIService ${n}: its version left spec.versions or is not served`,
      );
    }
  }

  /** Deletion: APIServices first (a dangling unavailable one blocks namespace deletion cluster-wide). */
  private async finalize(api: AggregatedAPI & KubeObject, log: Logger): Promise<WorkResult> {
    if (!api.metadata.finalizers?.includes(FINALIZER)) return;
    const ours = await this.ownedApiServices(api);
    for (const s of ours) {
      if (!s.metadata?.deletionTimestamp) {
        log.info({ apiService: s.metadata?.name }, 'deleting APIService before the AggregatedAPI');
        await this.rest.delete(API_SERVICE, s.metadata!.name!, undefined, { uid: s.metadata?.uid });
      }
    }
    if (ours.length > 0 && (await this.ownedApiServices(api)).length > 0) return { requeueAfterMs: 1000 };
    await this.setFinalizer(api, false);
    this.metrics.forget(api.metadata.name);
    this.served.delete(api.metadata.name);
    log.info('APIServices removed; the garbage collector removes the rest');
    return;
  }

  /** The APIServices this AggregatedAPI owns: labelled for it and carrying its uid (not a namesake's). */
  private async ownedApiServices(api: AggregatedAPI): Promise<KubeObject[]> {
    const labelled = await this.rest.list(API_SERVICE, {
      labelSelector: `${OWNER_LABEL}=${api.metadata.name}`,
    });
    return labelled.items.filter((s) => isOwnedBy(s, api));
  }

  private async setFinalizer(api: AggregatedAPI, present: boolean): Promise<void> {
    try {
      await this.rest.apply(
        AGGREGATED_API,
        {
          apiVersion: API_VERSION,
          kind: KIND,
          metadata: {
            name: api.metadata.name,
            uid: api.metadata.uid,
            ...(present ? { finalizers: [FINALIZER] } : {}),
          },
        },
        { fieldManager: FINALIZER_FIELD_MANAGER },
      );
    } catch (e) {
      if (!present && isNotFound(e)) return;
      throw e;
    }
  }

  private async writeStatus(api: AggregatedAPI, status: AggregatedAPIStatus): Promise<void> {
    try {
      await this.rest.apply(
        AGGREGATED_API,
        {
          apiVersion: API_VERSION,
          kind: KIND,
          metadata: { name: api.metadata.name, uid: api.metadata.uid },
          status,
        },
        { subresource: 'status' },
      );
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  private async recordTransitions(
    api: AggregatedAPI & KubeObject,
    before: Condition[] | undefined,
    after: Condition[],
  ) {
    for (const c of after) {
      const old = before?.find((b) => b.type === c.type);
      if (old && old.status === c.status && old.reason === c.reason) continue;
      if (!old && c.status !== 'True' && c.type !== 'Ready') continue;
      const bad =
        (c.type === 'Degraded' && c.status === 'True') ||
        (c.type === 'StorageReady' && NOT_DURABLE_REASONS.has(c.reason)) ||
        (c.type !== 'Degraded' && c.type !== 'Progressing' && c.status === 'False');
      await this.events.record(
        api,
        bad ? 'Warning' : 'Normal',
        c.reason,
        `${c.type}=${c.status}: ${c.message}`,
      );
    }
  }
}

function isOwnedBy(object: KubeObject, api: AggregatedAPI): boolean {
  return !!object.metadata?.ownerReferences?.some((o) => o.uid === api.metadata.uid);
}

/** When the next certificate step is due: soon while a rotation is under way, else at a renew point. */
function nextCertificateCheck(plan: CertificatePlan, renewBeforeMs: number, caRenewBeforeMs: number): number {
  if (plan.pendingStep) return 2_000;
  const now = Date.now();
  const servingDue = plan.servingNotAfter.getTime() - renewBeforeMs - now;
  const caDue = plan.caNotAfter.getTime() - caRenewBeforeMs - now;
  return Math.max(1_000, Math.min(RESYNC_MS, servingDue + 500, caDue + 500));
}
