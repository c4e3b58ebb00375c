/**
 * The Widget API's hub (internal) types and the metav1 shapes the server speaks. Field types are
 * derived at compile time from the schemas in apis/ (the one description); this file adds the envelopes.
 */
import type { Condition } from '../../shared/condition';
import type { ObjectMeta, ListMeta } from '../apis/meta/v1';
import type { WidgetSpec, WidgetStatus } from '../apis/widgets/v1';

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

/** The group and the versions one server serves, in priority order (the first is preferred). */
export interface ServedApi {
  group: string;
  versions: readonly string[];
}

/** The versions of either form: a whole served API, or one group version. */
export function servedVersions(api: ApiIdentity | ServedApi): readonly string[] {
  return 'versions' in api ? api.versions : [api.version];
}

export {
  WIDGET_COLORS,
  DEFAULT_COLOR,
  WIDGET_PHASES,
  MIN_REPLICAS,
  MAX_REPLICAS,
  type WidgetColor,
  type WidgetPhase,
  type WidgetSpec,
  type WidgetStatus,
} from '../apis/widgets/v1';
export type { ObjectMeta, OwnerReference, ListMeta } from '../apis/meta/v1';

export type { Condition };

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
