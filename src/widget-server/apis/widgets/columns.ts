/**
 * The Widget's printer columns (the server-side table kubectl prints): Name, Replicas, Available,
 * Color (with -o wide), Phase and Age; v1alpha1 says Size for Replicas and has no Color.
 */
import type { Widget } from '../../api/types';
import type { PrinterColumn } from '../kind';

const name: PrinterColumn<Widget> = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
  cell: (w) => w.metadata.name,
};
const replicas = (title: string): PrinterColumn<Widget> => ({
  name: title,
  type: 'integer',
  format: '',
  description: 'Desired number of instances.',
  priority: 0,
  cell: (w) => w.spec.replicas ?? 0,
});
const available: PrinterColumn<Widget> = {
  name: 'Available',
  type: 'integer',
  format: '',
  description: 'Instances ready to serve.',
  priority: 0,
  cell: (w) => w.status?.availableReplicas ?? 0,
};
const color: PrinterColumn<Widget> = {
  name: 'Color',
  type: 'string',
  format: '',
  description: 'Color of the Widget (shown with -o wide).',
  priority: 1,
  cell: (w) => w.spec.color ?? '',
};
const phase: PrinterColumn<Widget> = {
  name: 'Phase',
  type: 'string',
  format: '',
  description: 'Lifecycle phase: Pending, Running or Failed.',
  priority: 0,
  cell: (w) => w.status?.phase ?? '',
};
const age: PrinterColumn<Widget> = {
  name: 'Age',
  type: 'date',
  format: '',
  description: 'Time since the Widget was created.',
  priority: 0,
  cell: (w) => w.metadata.creationTimestamp,
};

export const WIDGET_COLUMNS = [name, replicas('Replicas'), available, color, phase, age];
export const WIDGET_COLUMNS_V1ALPHA1 = [name, replicas('Size'), available, phase, age];
