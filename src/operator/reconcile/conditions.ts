/**
 * Turns what the reconcile observed (certificates, Deployment readiness, each APIService's Available
 * condition, errors) into the AggregatedAPI's metav1.Conditions. lastTransitionTime moves only when a
 * condition's status changes, as metav1 requires, so `kubectl wait` and alerts see real transitions.
 *
 *   CertificatesReady  the CA and serving certificate are valid and published
 *   Available          every APIService reports Available=True (reason copied from the aggregator)
 *                      and answers discovery through kube-apiserver (reason DiscoveryFailed); when
 *                      not, the message says what that blocks cluster-wide
 *   Progressing        True while a rollout or certificate rotation is under way
 *   Degraded           True when the operator cannot converge (conflict, missing namespace, errors)
 *   StorageReady       the store answers: a managed etcd has a quorum of healthy members and a
 *                      leader (reasons MembersHealthy, QuorumHealthy, NoQuorum, ...); the embedded
 *                      store is True with reason MemoryOnly, and a managed etcd on emptyDir NotDurable
 *   Ready              all of the above are as they should be and at least one replica is ready
 */
import { rfc3339Seconds } from '../../shared/time';
import type { ApiServiceStatus, Condition } from '../api/aggregated-api';

export interface DeploymentObservation {
  exists: boolean;
  desiredReplicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  /** The Deployment controller has seen the latest spec. */
  observedLatest: boolean;
  /** A ProgressDeadlineExceeded or ReplicaFailure condition, if any. */
  failure?: { reason: string; message: string };
}

export interface Observation {
  generation: number;
  certificates?: { ok: true; message: string } | { ok: false; reason: string; message: string };
  rotationStep?: string;
  deployment: DeploymentObservation;
  apiServices: ApiServiceStatus[];
  /**
   * APIServices that are Available but whose discovery through kube-apiserver is not answered yet, in
   * the moment after they turned Available (observe.ts, DISCOVERY_SETTLE_MS): not failed, not ready.
   */
  discoverySettling?: string[];
  degraded?: { reason: string; message: string };
  storage?: { status: 'True' | 'False' | 'Unknown'; reason: string; message: string };
}

type Desired = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

function merge(
  existing: Condition[] | undefined,
  desired: Desired[],
  generation: number,
  now: Date,
): Condition[] {
  return desired.map((d) => {
    const old = existing?.find((c) => c.type === d.type);
    const lastTransitionTime = old && old.status === d.status ? old.lastTransitionTime : rfc3339Seconds(now);
    return { ...d, observedGeneration: generation, lastTransitionTime };
  });
}

/**
 * What an unavailable aggregated API does to the whole cluster, so that whoever reads the condition
 * (an on-call person, an alert) knows the urgency: kube-apiserver's discovery lacks the group, and
 * controllers that walk every resource stall on it.
 */
export const CLUSTER_WIDE_EFFECT =
  "While an APIService is unavailable, discovery through kube-apiserver is incomplete for every client, and deleting any namespace and the garbage collector's work block until it is back.";

function unavailableReason(s: ApiServiceStatus): string {
  if (s.available === 'True' && s.discovery === 'False') return 'DiscoveryFailed';
  if (s.available === 'True' && s.discovery === 'Unknown') return 'DiscoverySettling';
  return s.reason || 'APIServiceUnavailable';
}

function unavailableMessage(s: ApiServiceStatus): string {
  if (s.available === 'True' && s.discovery === 'False')
    return `${s.name} is Available to the aggregator but its discovery through kube-apiserver failed: ${s.discoveryMessage ?? 'no answer'}`;
  if (s.available === 'True' && s.discovery === 'Unknown')
    return `${s.name} is Available to the aggregator; its discovery through kube-apiserver is not answered yet: ${s.discoveryMessage ?? 'not checked'}`;
  return `${s.name}: ${s.message || s.reason || 'not available'}`;
}

export function computeConditions(
  obs: Observation,
  existing: Condition[] | undefined,
  now: Date,
): Condition[] {
  const desired: Desired[] = [];
  const certs = obs.certificates;
  const certificatesReady: Desired = !certs
    ? {
        type: 'CertificatesReady',
        status: 'Unknown',
        reason: 'NotReconciled',
        message: 'certificates were not reconciled',
      }
    : certs.ok
      ? { type: 'CertificatesReady', status: 'True', reason: 'CertificatesValid', message: certs.message }
      : { type: 'CertificatesReady', status: 'False', reason: certs.reason, message: certs.message };
  desired.push(certificatesReady);

  const settling = new Set(obs.discoverySettling);
  const unavailable = obs.apiServices.filter(
    (s) => s.available !== 'True' || s.discovery === 'False' || settling.has(s.name),
  );
  const available: Desired =
    obs.apiServices.length === 0
      ? {
          type: 'Available',
          status: 'Unknown',
          reason: 'NoAPIServices',
          message: 'no APIService registered yet',
        }
      : unavailable.length === 0
        ? {
            type: 'Available',
            status: 'True',
            reason: 'APIServicesAvailable',
            message: `${obs.apiServices.map((s) => s.name).join(', ')} available`,
          }
        : {
            type: 'Available',
            status: unavailable.some((s) => s.available === 'False' || s.discovery === 'False')
              ? 'False'
              : 'Unknown',
            reason: unavailableReason(unavailable[0]),
            message: `${unavailable.map(unavailableMessage).join('; ')}. ${CLUSTER_WIDE_EFFECT}`,
          };
  desired.push(available);

  const dep = obs.deployment;
  const rollingOut =
    dep.exists &&
    (!dep.observedLatest ||
      dep.updatedReplicas < dep.desiredReplicas ||
      dep.readyReplicas < dep.desiredReplicas);
  const progressing: Desired = dep.failure
    ? { type: 'Progressing', status: 'False', reason: dep.failure.reason, message: dep.failure.message }
    : rollingOut
      ? {
          type: 'Progressing',
          status: 'True',
          reason: 'RollingOut',
          message: `${dep.readyReplicas}/${dep.desiredReplicas} replicas ready, ${dep.updatedReplicas} updated`,
        }
      : obs.rotationStep
        ? {
            type: 'Progressing',
            status: 'True',
            reason: 'CertificateRotation',
            message: `certificate rotation: ${obs.rotationStep}`,
          }
        : {
            type: 'Progressing',
            status: 'False',
            reason: 'Reconciled',
            message: 'all owned objects are up to date',
          };
  desired.push(progressing);

  const storageReady: Desired = obs.storage
    ? { type: 'StorageReady', ...obs.storage }
    : {
        type: 'StorageReady',
        status: 'Unknown',
        reason: 'NotReconciled',
        message: 'storage was not reconciled',
      };
  desired.push({
    type: storageReady.type,
    status: storageReady.status,
    reason: storageReady.reason,
    message: storageReady.message,
  });

  const degradedReason = obs.degraded ?? dep.failure;
  desired.push(
    degradedReason
      ? { type: 'Degraded', status: 'True', reason: degradedReason.reason, message: degradedReason.message }
      : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no problems detected' },
  );

  let ready: Desired;
  if (obs.degraded)
    ready = { type: 'Ready', status: 'False', reason: obs.degraded.reason, message: obs.degraded.message };
  else if (certificatesReady.status !== 'True')
    ready = {
      type: 'Ready',
      status: 'False',
      reason: certificatesReady.reason,
      message: certificatesReady.message,
    };
  else if (storageReady.status === 'False')
    ready = { type: 'Ready', status: 'False', reason: storageReady.reason, message: storageReady.message };
  else if (dep.readyReplicas < 1)
    ready = {
      type: 'Ready',
      status: 'False',
      reason: dep.desiredReplicas === 0 ? 'ScaledToZero' : 'NoReadyReplicas',
      message: dep.desiredReplicas === 0 ? 'spec.replicas is 0' : `0/${dep.desiredReplicas} replicas ready`,
    };
  else if (available.status !== 'True')
    ready = { type: 'Ready', status: 'False', reason: available.reason, message: available.message };
  else
    ready = {
      type: 'Ready',
      status: 'True',
      reason: 'Ready',
      message: `${dep.readyReplicas}/${dep.desiredReplicas} replicas ready; ${available.message}`,
    };
  desired.unshift(ready);
  return merge(existing, desired, obs.generation, now);
}
