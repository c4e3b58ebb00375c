/**
 * What the Widget controller makes of a Widget: its Deployment (owned by it, selected as the scale
 * subresource says, image, replicas and color) and its status from the Deployment and pods (phase,
 * availableReplicas, Available and Progressing with observedGeneration, failures named, transition
 * times and lastUpdated moving only on change).
 */
import { desiredDeployment, selectorLabels } from '../../../src/widget-controller/deployment';
import {
  statusEqual,
  widgetStatus,
  type DeploymentState,
  type PodState,
} from '../../../src/widget-controller/status';
import { widgetToScale } from '../../../src/widget-server/api/scale';
import type { Widget } from '../../../src/widget-server/api/types';

const GROUP = 'custom.example.com';
const widget = (over: Partial<Widget['status']> = {}, generation = 2): Widget => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'Widget',
  metadata: { name: 'w1', namespace: 'prod', uid: 'uid-1', generation },
  spec: { image: 'nginx:1.27', replicas: 3, color: 'red' },
  status: { phase: 'Pending', ...over },
});
const deployment = (
  conditions: Array<{ type: string; status: string; reason?: string; message?: string }>,
  status: Partial<NonNullable<DeploymentState['status']>> = {},
): DeploymentState => ({
  metadata: { name: 'w1', namespace: 'prod', generation: 4 },
  status: { observedGeneration: 4, availableReplicas: 3, conditions, ...status },
});
const AVAILABLE = { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'ok' };
const PROGRESSING = {
  type: 'Progressing',
  status: 'True',
  reason: 'NewReplicaSetAvailable',
  message: 'done',
};
const T0 = '2026-12-07T07:00:00Z';
const T1 = '2026-12-07T07:05:00Z';

test('the Deployment: owned by the Widget, selected as its Scale says, image, replicas and color', () => {
  const w = widget();
  const d = desiredDeployment(w, GROUP, `${GROUP}/v1`) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(d.metadata).toMatchObject({
    name: 'w1',
    namespace: 'prod',
    ownerReferences: [
      { apiVersion: `${GROUP}/v1`, kind: 'Widget', name: 'w1', uid: 'uid-1', controller: true },
    ],
    labels: { 'app.kubernetes.io/managed-by': 'widget-controller', [`${GROUP}/color`]: 'red' },
  });
  expect(d.spec.replicas).toBe(3);
  expect(d.spec.template.spec.containers).toEqual([{ name: 'widget', image: 'nginx:1.27' }]);
  // The HPA finds the pods by the Scale's selector: the pods carry it, and the Deployment selects by it.
  const [key, value] = widgetToScale(w).status!.selector!.split('=');
  expect(d.spec.template.metadata.labels[key]).toBe(value);
  expect(d.spec.selector.matchLabels).toEqual(selectorLabels(w));
  expect(d.spec.template.metadata.labels).toMatchObject(d.spec.selector.matchLabels);
});

test("the Widget's resources are its container's: an HPA measures CPU against the request", () => {
  const resources = { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '500m' } };
  const w = widget();
  w.spec.resources = resources;
  const d = desiredDeployment(w, GROUP, `${GROUP}/v1`) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(d.spec.template.spec.containers).toEqual([{ name: 'widget', image: 'nginx:1.27', resources }]);
});

test('Running with the available replicas once the Deployment is available; conditions carry the generation', () => {
  const s = widgetStatus(widget(), deployment([AVAILABLE, PROGRESSING]), [], T0);
  expect(s).toEqual({
    phase: 'Running',
    availableReplicas: 3,
    lastUpdated: T0,
    conditions: [
      { ...AVAILABLE, observedGeneration: 2, lastTransitionTime: T0 },
      { ...PROGRESSING, observedGeneration: 2, lastTransitionTime: T0 },
    ],
  });
  // Nothing changed: the same status, times kept, so the controller writes nothing.
  const again = widgetStatus(widget(s), deployment([AVAILABLE, PROGRESSING]), [], T1);
  expect(again).toEqual(s);
  expect(statusEqual(s, again)).toBe(true);
});

test('Pending before the Deployment exists, before its controller observed it, and while not available', () => {
  expect(widgetStatus(widget(), undefined, [], T0)).toMatchObject({
    phase: 'Pending',
    availableReplicas: 0,
    conditions: [
      { type: 'Available', status: 'False', reason: 'DeploymentMissing' },
      { type: 'Progressing', status: 'True', reason: 'DeploymentMissing' },
    ],
  });
  const unobserved = deployment([AVAILABLE], { observedGeneration: 3 });
  expect(widgetStatus(widget(), unobserved, [], T0).conditions?.[1]).toMatchObject({
    status: 'True',
    reason: 'DeploymentNotObserved',
  });
  const scaling = deployment(
    [{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' }, PROGRESSING],
    { availableReplicas: 1 },
  );
  expect(widgetStatus(widget(), scaling, [], T0)).toMatchObject({ phase: 'Pending', availableReplicas: 1 });
});

test('Failed on a progress deadline, and on pods that cannot pull their image or crash-loop, naming the pod', () => {
  const deadline = deployment([
    AVAILABLE,
    { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'too slow' },
  ]);
  expect(widgetStatus(widget(), deadline, [], T0).phase).toBe('Failed');
  const pod = (reason: string): PodState => ({
    metadata: { name: 'w1-abc', namespace: 'prod' },
    status: {
      containerStatuses: [{ name: 'widget', state: { waiting: { reason, message: `${reason} here` } } }],
    },
  });
  for (const reason of ['ImagePullBackOff', 'ErrImagePull', 'CrashLoopBackOff']) {
    const s = widgetStatus(widget(), deployment([AVAILABLE, PROGRESSING]), [pod(reason)], T0);
    expect(s.phase).toBe('Failed');
    expect(s.conditions?.[1]).toMatchObject({
      type: 'Progressing',
      status: 'False',
      reason,
      message: `pod w1-abc: ${reason} here`,
    });
  }
  // A container that is merely starting is not a failure.
  expect(
    widgetStatus(widget(), deployment([AVAILABLE, PROGRESSING]), [pod('ContainerCreating')], T0).phase,
  ).toBe('Running');
});

test('a condition keeps its transition time while its status stays, and gets a new one when it changes', () => {
  const first = widgetStatus(widget(), deployment([AVAILABLE, PROGRESSING]), [], T0);
  const lost = widgetStatus(
    widget(first),
    deployment([{ ...AVAILABLE, status: 'False', reason: 'MinimumReplicasUnavailable' }, PROGRESSING]),
    [],
    T1,
  );
  expect(lost.conditions?.[0]).toMatchObject({ status: 'False', lastTransitionTime: T1 });
  expect(lost.conditions?.[1]).toMatchObject({ status: 'True', lastTransitionTime: T0 });
  expect(lost.lastUpdated).toBe(T1);
});
