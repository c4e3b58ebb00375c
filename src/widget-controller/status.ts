/**
 * A Widget's status as its Deployment and pods show it: `availableReplicas`; the `Available` and
 * `Progressing` conditions, taken from the Deployment's once its controller has seen the current spec,
 * with the Widget's `observedGeneration`; and `phase`: `Failed` when the rollout is past its progress
 * deadline or a pod cannot pull its image or crash-loops (the condition says which pod and why),
 * `Running` while the Deployment is available, `Pending` otherwise. Transition times change only when a
 * condition's status does, as metav1.Condition wants.
 */
import type { Condition } from '../shared/condition';
import { jsonEqual } from '../shared/json-equal';
import type { KubeObject } from '../shared/kube/rest';
import type { Widget, WidgetStatus } from '../widget-server/api/types';

export interface DeploymentState extends KubeObject {
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

export interface PodState extends KubeObject {
  status?: {
    containerStatuses?: Array<{
      name: string;
      state?: { waiting?: { reason?: string; message?: string } };
    }>;
  };
}

/** Container waiting reasons that do not fix themselves: the Widget has failed until its spec changes. */
export const FAILING_REASONS = [
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
] as const;

type ConditionFields = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** The first pod of the Widget's that is stuck, and why. */
function stuckPod(pods: readonly PodState[]): { reason: string; message: string } | undefined {
  for (const pod of pods) {
    for (const c of pod.status?.containerStatuses ?? []) {
      const waiting = c.state?.waiting;
      if (waiting?.reason && (FAILING_REASONS as readonly string[]).includes(waiting.reason))
        return {
          reason: waiting.reason,
          message: `pod ${pod.metadata?.name}: ${waiting.message ?? waiting.reason}`.slice(0, 1024),
        };
    }
  }
  return undefined;
}

function fromDeployment(d: DeploymentState, type: string): ConditionFields | undefined {
  const c = d.status?.conditions?.find((x) => x.type === type);
  if (!c) return undefined;
  const status = c.status === 'True' || c.status === 'False' ? c.status : 'Unknown';
  return { type, status, reason: c.reason ?? 'Unknown', message: c.message ?? '' };
}

/** The status the Widget should have; `now` stamps conditions that change and `lastUpdated`. */
export function widgetStatus(
  widget: Widget,
  deployment: DeploymentState | undefined,
  pods: readonly PodState[],
  now: string,
): WidgetStatus {
  const generation = widget.metadata.generation;
  let available: ConditionFields;
  let progressing: ConditionFields;
  const observed =
    deployment && (deployment.status?.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  if (!deployment) {
    available = {
      type: 'Available',
      status: 'False',
      reason: 'DeploymentMissing',
      message: 'creating its Deployment',
    };
    progressing = {
      type: 'Progressing',
      status: 'True',
      reason: 'DeploymentMissing',
      message: 'creating its Deployment',
    };
  } else if (!observed) {
    const waiting = 'the Deployment controller has not observed the latest spec yet';
    available = fromDeployment(deployment, 'Available') ?? {
      type: 'Available',
      status: 'Unknown',
      reason: 'DeploymentNotObserved',
      message: waiting,
    };
    progressing = { type: 'Progressing', status: 'True', reason: 'DeploymentNotObserved', message: waiting };
  } else {
    available = fromDeployment(deployment, 'Available') ?? {
      type: 'Available',
      status: 'Unknown',
      reason: 'NoCondition',
      message: 'the Deployment reports no Available condition yet',
    };
    progressing = fromDeployment(deployment, 'Progressing') ?? {
      type: 'Progressing',
      status: 'Unknown',
      reason: 'NoCondition',
      message: 'the Deployment reports no Progressing condition yet',
    };
  }
  const stuck = stuckPod(pods);
  if (stuck) progressing = { type: 'Progressing', status: 'False', ...stuck };
  const failed =
    !!stuck || (progressing.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded');
  const phase = failed ? 'Failed' : available.status === 'True' ? 'Running' : 'Pending';
  const previous = widget.status?.conditions ?? [];
  const condition = (c: ConditionFields): Condition => {
    const before = previous.find((p) => p.type === c.type);
    return {
      ...c,
      observedGeneration: generation,
      lastTransitionTime: before && before.status === c.status ? before.lastTransitionTime : now,
    };
  };
  const next: WidgetStatus = {
    phase,
    availableReplicas: deployment?.status?.availableReplicas ?? 0,
    conditions: [condition(available), condition(progressing)],
  };
  // lastUpdated moves only when something else did.
  const same = statusEqual(widget.status, next);
  return { ...next, lastUpdated: same ? (widget.status?.lastUpdated ?? now) : now };
}

/** Whether two statuses say the same, lastUpdated aside. */
export function statusEqual(a: WidgetStatus | undefined, b: WidgetStatus): boolean {
  const strip = ({ lastUpdated: _ignored, ...rest }: WidgetStatus = {}) => rest;
  return jsonEqual(strip(a), strip(b));
}
