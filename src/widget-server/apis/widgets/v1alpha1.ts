/**
 * Widget v1alpha1: the first shape of the API. Its spec says `size` where later versions say `replicas`,
 * and it has no `color` (added in v1beta1). A v1alpha1 client that reads and writes back an object
 * keeps its color: conversion carries it in an annotation, as Kubernetes does for fields an older
 * version lacks.
 */
import {
  IMAGE_DOC,
  MAX_REPLICAS,
  MIN_REPLICAS,
  DEFAULT_REPLICAS,
  kindSchemas,
  resourcesField,
  type WidgetSpec,
} from './v1';
import { int32, object, string, type Infer } from '../../schema/schema';
import type { Widget } from '../../api/types';

/** Where a v1alpha1 object keeps spec.color, which it has no field for. Reserved: set only by conversion. */
export const COLOR_ANNOTATION = 'widgets.custom.example.com/v1beta1-spec.color';

export const widgetSpecV1alpha1 = object(
  {
    image: string(IMAGE_DOC),
    size: int32(
      `Size is the desired number of instances, ${MIN_REPLICAS} to ${MAX_REPLICAS}. Defaults to ${DEFAULT_REPLICAS}. Scalable through the scale subresource. Called replicas from v1beta1 on.`,
      { minimum: MIN_REPLICAS, maximum: MAX_REPLICAS, default: DEFAULT_REPLICAS },
    ),
    resources: resourcesField,
  },
  {
    required: ['image'],
    named: { pkg: 'api', name: 'WidgetSpec', description: 'WidgetSpec is the desired state of a Widget.' },
  },
);

export const v1alpha1 = kindSchemas(widgetSpecV1alpha1);

type SpecV1alpha1 = Infer<typeof widgetSpecV1alpha1>;

export function toV1alpha1(w: Widget): Record<string, unknown> {
  const { replicas, color, ...rest } = w.spec;
  const spec: SpecV1alpha1 = { ...rest };
  if (replicas !== undefined) spec.size = replicas;
  const metadata = { ...w.metadata };
  const annotations = { ...metadata.annotations };
  delete annotations[COLOR_ANNOTATION];
  if (color !== undefined) annotations[COLOR_ANNOTATION] = color;
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  else delete metadata.annotations;
  return { ...w, metadata, spec };
}

export function fromV1alpha1(o: Record<string, unknown>): Widget {
  const w = o as unknown as Omit<Widget, 'spec'> & { spec: SpecV1alpha1 };
  const { size, ...rest } = w.spec;
  const spec: WidgetSpec = { ...rest };
  if (size !== undefined) spec.replicas = size;
  const metadata = { ...w.metadata };
  const color = metadata.annotations?.[COLOR_ANNOTATION];
  if (metadata.annotations && color !== undefined) {
    const { [COLOR_ANNOTATION]: _carried, ...annotations } = metadata.annotations;
    spec.color = color as WidgetSpec['color'];
    if (Object.keys(annotations).length) metadata.annotations = annotations;
    else delete metadata.annotations;
  }
  return { ...w, metadata, spec } as Widget;
}
