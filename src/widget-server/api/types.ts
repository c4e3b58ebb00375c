/**
 * The Widget API's Go-style types (custom.example.com/v1) and the metav1 shapes the server speaks.
 * Everything about what a Widget *is* lives under api/; how it is stored or served lives elsewhere.
 */
import type { Condition } from '../../shared/condition';

export const DEFAULT_GROUP = 'custom.example.com';
export const VERSION = 'v1';
export const KIND = 'Widget';
export const LIST_KIND = 'WidgetList';
export const RESOURCE = 'widgets';
export const SINGULAR = 'widget';
export const SHORT_NAMES = ['wg'];
export const CATEGORIES = ['all'];

/** The API group is a flag (one Widget server binary can serve any group); everything else is fixed. */
export interface ApiIdentity {
  group: string;
  version: string;
}

export const WIDGET_COLORS = [
  'blue',
  'green',
  'red',
  'yellow',
  'purple',
  'orange',
  'black',
  'white',
] as const;
export type WidgetColor = (typeof WIDGET_COLORS)[number];
export const DEFAULT_COLOR: WidgetColor = 'blue';

export const WIDGET_PHASES = ['Pending', 'Running', 'Failed'] as const;
export type WidgetPhase = (typeof WIDGET_PHASES)[number];

export const MIN_REPLICAS = 0;
export const MAX_REPLICAS = 100;

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: unknown;
  subresource?: string;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: ManagedFieldsEntry[];
  selfLink?: string;
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

export type { Condition };

export interface WidgetSpec {
  replicas?: number;
  image: string;
  color?: WidgetColor;
}

export interface WidgetStatus {
  availableReplicas?: number;
  phase?: WidgetPhase;
  lastUpdated?: string;
  conditions?: Condition[];
}

export interface Widget {
  apiVersion: string;
  kind: 'Widget';
  metadata: ObjectMeta;
  spec: WidgetSpec;
  status?: WidgetStatus;
}

export interface WidgetList {
  apiVersion: string;
  kind: 'WidgetList';
  metadata: ListMeta;
  items: Widget[];
}

/** autoscaling/v1 Scale, the shape of the /scale subresource. */
export interface Scale {
  apiVersion: 'autoscaling/v1';
  kind: 'Scale';
  metadata: ObjectMeta;
  spec: { replicas?: number };
  status: { replicas: number; selector?: string };
}

export interface DeleteOptions {
  apiVersion?: string;
  kind?: string;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  orphanDependents?: boolean;
  dryRun?: string[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T = unknown> {
  type: WatchEventType;
  object: T;
}

export function apiVersionOf(id: ApiIdentity): string {
  return `${id.group}/${id.version}`;
}
