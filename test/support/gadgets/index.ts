/**
 * A second kind, Gadget (one version, v1, with a status subresource and no scale), written exactly as
 * docs/adding-a-kind.md says a kind is added: its schema, strategy and definition in one folder. Tests
 * serve it beside widgets to prove that the storage map, not Widget-specific code, drives routing,
 * discovery, OpenAPI, decoding, tables and storage.
 */
import { topLevelSchemas } from '../../../src/widget-server/apis/meta/v1';
import type { KindDefinition } from '../../../src/widget-server/apis/kind';
import { validateObjectMeta } from '../../../src/widget-server/api/validation';
import { applyDefaults } from '../../../src/widget-server/schema/defaults';
import { boolean, int32, object, string, type Infer } from '../../../src/widget-server/schema/schema';
import { schemaErrors } from '../../../src/widget-server/schema/validate';
import { DEFAULT_SELECTABLE_FIELDS } from '../../../src/widget-server/registry/list-options';
import type { StoredObject } from '../../../src/widget-server/registry/generic/types';

// 1. The schema: written once; OpenAPI, decoding, defaults, validation and the types derive from it.
const gadgetSpec = object(
  {
    size: int32('Size of the Gadget, 1 to 10. Defaults to 1.', { minimum: 1, maximum: 10, default: 1 }),
    label: string('A free-form label.'),
  },
  { named: { pkg: 'api', name: 'GadgetSpec', description: 'GadgetSpec is the desired state of a Gadget.' } },
);
const gadgetStatus = object(
  { ready: boolean('Ready is true once the Gadget is ready.') },
  {
    named: {
      pkg: 'api',
      name: 'GadgetStatus',
      description: 'GadgetStatus is the observed state of a Gadget.',
    },
  },
);
const v1 = topLevelSchemas({
  kind: 'Gadget',
  listKind: 'GadgetList',
  description: 'Gadget is a second kind, served to prove the storage map.',
  spec: gadgetSpec,
  status: gadgetStatus,
});

// 2. The hub type, derived from the schema at compile time.
export interface Gadget extends StoredObject {
  spec: Infer<typeof gadgetSpec>;
  status?: Infer<typeof gadgetStatus>;
}

// 3. The strategy: what create and update may change, and validation beyond the schema's own.
const validate = (g: Gadget) => [
  ...validateObjectMeta(g.metadata, true),
  ...schemaErrors(gadgetSpec, g.spec, 'spec'),
];

// 4. The definition, and one line in src/widget-server/apis/index.ts's KINDS to serve it.
export const gadgetKind: KindDefinition<Gadget> = {
  names: {
    kind: 'Gadget',
    listKind: 'GadgetList',
    resource: 'gadgets',
    namespaced: true,
    singular: 'gadget',
    shortNames: ['gd'],
    categories: [],
  },
  versions: [
    {
      version: 'v1',
      schema: v1,
      fromHub: (g) => g as unknown as Record<string, unknown>,
      toHub: (o) => o as unknown as Gadget,
      columns: [
        {
          name: 'Name',
          type: 'string',
          format: 'name',
          description: 'Name.',
          priority: 0,
          cell: (g) => g.metadata.name,
        },
        {
          name: 'Size',
          type: 'integer',
          format: '',
          description: 'Size.',
          priority: 0,
          cell: (g) => g.spec.size,
        },
        {
          name: 'Age',
          type: 'date',
          format: '',
          description: 'Age.',
          priority: 0,
          cell: (g) => g.metadata.creationTimestamp,
        },
      ],
    },
  ],
  hubVersion: 'v1',
  defaultStorageVersion: 'v1',
  strategy: {
    defaults: (g) => applyDefaults(v1.object, g),
    prepareForCreate: (g) => {
      g.status = { ready: false };
    },
    validate,
    prepareForUpdate: (next, current) => {
      next.status = current.status;
      if (JSON.stringify(next.spec) !== JSON.stringify(current.spec))
        next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    },
    validateUpdate: (next) => validate(next),
    status: {
      prepareForUpdate: (incoming, current) => ({ ...structuredClone(current), status: incoming.status }),
      validateUpdate: () => [],
    },
    fields: (g) => ({
      'metadata.name': g.metadata.name ?? '',
      'metadata.namespace': g.metadata.namespace ?? '',
    }),
    selectableFields: DEFAULT_SELECTABLE_FIELDS,
  },
};
