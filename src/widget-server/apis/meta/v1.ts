/**
 * meta.k8s.io/v1 and autoscaling/v1 types the Widget API embeds or answers with (ObjectMeta, ListMeta,
 * Condition, Status, DeleteOptions, WatchEvent, Scale), described once in the schema language; their
 * OpenAPI definitions and decoding come from here.
 */
import {
  any,
  array,
  boolean,
  field,
  int32,
  int64,
  map,
  object,
  string,
  type Infer,
  type ObjectNode,
} from '../../schema/schema';

export const API_VERSION_DOC =
  'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.';
export const KIND_DOC =
  'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.';

const meta = (name: string, description: string, kind?: string) => ({
  pkg: 'meta' as const,
  name,
  description,
  kind,
});
const time = (description: string) => string(description, { format: 'date-time' });

export const ownerReference = object(
  {
    apiVersion: string('API version of the referent.'),
    kind: string('Kind of the referent.'),
    name: string('Name of the referent.'),
    uid: string('UID of the referent.'),
    controller: boolean('If true, this reference points to the managing controller.'),
    blockOwnerDeletion: boolean('If true, the owner cannot be deleted until this object is.'),
  },
  {
    required: ['apiVersion', 'kind', 'name', 'uid'],
    named: meta('OwnerReference', 'OwnerReference identifies an owning object.'),
  },
);

export const objectMeta = object(
  {
    name: string('Name must be unique within a namespace; a DNS subdomain of at most 253 characters.'),
    generateName: string(
      'GenerateName is a prefix the server uses to generate a unique name when name is empty.',
    ),
    namespace: string('Namespace the object lives in.'),
    selfLink: string('Deprecated; not set.'),
    uid: string('UID is the unique in time and space value for this object, set by the server.'),
    resourceVersion: string(
      'An opaque value that represents the internal version of this object, for optimistic concurrency and watches.',
    ),
    generation: int64('A sequence number representing a specific generation of the desired state.'),
    creationTimestamp: time('When this object was created.'),
    deletionTimestamp: time(
      'When this object will be deleted; set when deletion is requested while finalizers remain.',
    ),
    deletionGracePeriodSeconds: int64('Seconds allowed for graceful termination.'),
    labels: map(string(''), 'Map of string keys and values used to organize and select objects.'),
    annotations: map(string(''), 'Unstructured key value map for arbitrary metadata.'),
    ownerReferences: array(
      ownerReference,
      'Objects this object depends on; the garbage collector deletes it when all owners are gone.',
      { listType: 'map', listMapKeys: ['uid'], patchStrategy: 'merge', patchMergeKey: 'uid' },
    ),
    finalizers: array(string(''), 'Must be empty before the object is deleted from the registry.', {
      listType: 'set',
      patchStrategy: 'merge',
    }),
    managedFields: array(any('A ManagedFieldsEntry.'), 'Field ownership information.'),
  },
  { named: meta('ObjectMeta', 'ObjectMeta is metadata that all persisted resources must have.') },
);

export const listMeta = object(
  {
    resourceVersion: string('The version of the list, for watches.'),
    continue: string('Token to retrieve the next page of results.'),
    remainingItemCount: int64('Number of items after this page.'),
  },
  { named: meta('ListMeta', 'ListMeta describes metadata that synthetic resources must have.') },
);

export const condition = object(
  {
    type: string('Type of condition in CamelCase.'),
    status: string('Status of the condition, one of True, False, Unknown.', {
      enum: ['True', 'False', 'Unknown'],
    }),
    observedGeneration: int64('The metadata.generation the condition was set based on.'),
    lastTransitionTime: time('Last time the condition transitioned from one status to another.'),
    reason: string("A programmatic identifier for the condition's last transition, in CamelCase."),
    message: string('A human readable message about the transition.'),
  },
  {
    required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
    named: meta('Condition', 'Condition contains details for one aspect of the current state.'),
  },
);

export const status = object(
  {
    apiVersion: string(API_VERSION_DOC),
    kind: string(KIND_DOC),
    metadata: field(listMeta, 'Standard list metadata.'),
    status: string('Status of the operation. One of: "Success" or "Failure".'),
    message: string('A human-readable description of the status of this operation.'),
    reason: string(
      'A machine-readable description of why this operation is in the "Failure" status, such as NotFound or Invalid.',
    ),
    code: int32('Suggested HTTP return code for this status.'),
    details: any(
      'Extended data associated with the reason: name, group, kind, uid, causes and retryAfterSeconds.',
    ),
  },
  { named: meta('Status', 'Status is a return value for calls that do not return other objects.', 'Status') },
);

export const deleteOptions = object(
  {
    apiVersion: string(API_VERSION_DOC),
    kind: string(KIND_DOC),
    gracePeriodSeconds: int64('The duration in seconds before the object should be deleted.'),
    preconditions: object(
      {
        uid: string('Specifies the target UID.'),
        resourceVersion: string('Specifies the target ResourceVersion.'),
      },
      { description: 'Must be fulfilled before a deletion is carried out.' },
    ),
    propagationPolicy: string(
      "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'.",
      { enum: ['Orphan', 'Background', 'Foreground'] },
    ),
    orphanDependents: boolean('Deprecated: use propagationPolicy. Should the dependent objects be orphaned.'),
    dryRun: array(string(''), "When present, modifications are not persisted. Valid value: 'All'."),
  },
  {
    named: meta(
      'DeleteOptions',
      'DeleteOptions may be provided when deleting an API object.',
      'DeleteOptions',
    ),
  },
);

export const watchEvent = object(
  {
    type: string('ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.'),
    object: any(
      'The object: the new state for ADDED and MODIFIED, the last state for DELETED, a Status for ERROR, and only metadata.resourceVersion for BOOKMARK.',
    ),
  },
  {
    required: ['type', 'object'],
    named: meta('WatchEvent', 'Event represents a single event to a watched resource.', 'WatchEvent'),
  },
);

export const patch = object(
  {},
  { named: meta('Patch', 'A patch document: JSON patch, merge patch or strategic merge patch.') },
);

/** autoscaling/v1 Scale; the replica bounds are the scaled kind's, so it is built per kind. */
export function scaleSchema(replicas: { minimum: number; maximum: number }) {
  return object(
    {
      apiVersion: string(API_VERSION_DOC),
      kind: string(KIND_DOC),
      metadata: field(objectMeta, "Standard object's metadata."),
      spec: object(
        { replicas: int32('Desired number of instances for the scaled object.', replicas) },
        {
          description: 'Defines the behavior of the scale.',
          named: scaleType('ScaleSpec', 'ScaleSpec describes the attributes of a scale subresource.'),
        },
      ),
      status: object(
        {
          replicas: int32('Actual number of observed instances of the scaled object.'),
          selector: string('Label query over pods that should match the replicas count.'),
        },
        {
          required: ['replicas'],
          description: 'The current status of the scale. Read-only.',
          named: scaleType(
            'ScaleStatus',
            'ScaleStatus represents the current status of a scale subresource.',
          ),
        },
      ),
    },
    { named: scaleType('Scale', 'Scale represents a scaling request for a resource.', 'Scale') },
  );
}

function scaleType(name: string, description: string, kind?: string) {
  return { pkg: 'autoscaling' as const, name, description, kind };
}

/**
 * A kind's top-level object and its list, around its spec and status schemas (named types of the API's
 * package): apiVersion, kind, metadata, spec (required) and status, as every Kubernetes kind has them.
 */
export function topLevelSchemas<S extends ObjectNode, T extends ObjectNode>(opts: {
  kind: string;
  listKind: string;
  description: string;
  spec: S;
  status: T;
}) {
  const api = (name: string, description: string, kind: string) => ({
    pkg: 'api' as const,
    name,
    description,
    kind,
  });
  const object_ = object(
    {
      apiVersion: string(API_VERSION_DOC),
      kind: string(KIND_DOC),
      metadata: field(objectMeta, "Standard object's metadata."),
      spec: field(opts.spec, `Spec is the desired state of the ${opts.kind}.`),
      status: field(
        opts.status,
        `Status is the observed state of the ${opts.kind}, written through the status subresource.`,
      ),
    },
    { required: ['spec'], named: api(opts.kind, opts.description, opts.kind) },
  );
  const list = object(
    {
      apiVersion: string(API_VERSION_DOC),
      kind: string(KIND_DOC),
      metadata: field(listMeta, 'Standard list metadata.'),
      items: array(object_, `Items is the list of ${opts.kind}s.`),
    },
    {
      required: ['items'],
      named: api(opts.listKind, `${opts.listKind} is a list of ${opts.kind}s.`, opts.listKind),
    },
  );
  return { object: object_, list };
}

export type ObjectMeta = Infer<typeof objectMeta>;
export type OwnerReference = Infer<typeof ownerReference>;
export type ListMeta = Infer<typeof listMeta>;
