/**
 * The storage map of one server: group -> version -> resource -> registry, built from the kinds in
 * apis/index.ts. Routing asks it which registry serves a request; discovery and OpenAPI list what it
 * serves; shutdown and storage version migration go through every registry.
 */
import type { AnyKind } from '../apis/kind';
import type { AdmissionChain } from '../admission/admission';
import type { Storage } from '../storage/storage';
import { KindRegistry } from './kind-registry';
import type { MigrationTarget } from './storage-migration';

export interface RegistriesOptions {
  group: string;
  /** The versions served (default: all); a kind serves those of them it has. */
  versions?: readonly string[];
  /** The storage version for every kind that has it; others use their own default. */
  storageVersion?: string;
  admission?: AdmissionChain;
  now?: () => Date;
  bookmarkIntervalMs?: number;
  /** False only to measure what managedFields cost (bench/managed-fields.ts). */
  trackManagedFields?: boolean;
}

export interface ServedResource {
  kind: AnyKind;
  /** The versions of this kind that are served, preferred first. */
  versions: readonly string[];
}

export class ApiRegistries {
  readonly group: string;
  /** The versions served by at least one kind, preferred first. */
  readonly versions: readonly string[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly byResource = new Map<string, KindRegistry<any>>();

  constructor(storage: Storage, kinds: readonly AnyKind[], options: RegistriesOptions) {
    this.group = options.group;
    const versions: string[] = [];
    for (const kind of kinds) {
      const has = kind.versions.map((v) => v.version);
      const served = options.versions ? has.filter((v) => options.versions!.includes(v)) : has;
      if (!served.length) continue;
      const registry = new KindRegistry(storage, kind, {
        group: options.group,
        versions: served,
        storageVersion:
          options.storageVersion && has.includes(options.storageVersion) ? options.storageVersion : undefined,
        admission: options.admission,
        now: options.now,
        bookmarkIntervalMs: options.bookmarkIntervalMs,
        trackManagedFields: options.trackManagedFields,
      });
      this.byResource.set(kind.names.resource, registry);
      for (const v of served) if (!versions.includes(v)) versions.push(v);
    }
    this.versions = versions;
  }

  /** The registry serving `resource` in `version`, if any. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  lookup(version: string, resource: string): KindRegistry<any> | undefined {
    const registry = this.byResource.get(resource);
    return registry && registry.versions.includes(version) ? registry : undefined;
  }

  /** What each kind serves, for discovery and OpenAPI. */
  served(): ServedResource[] {
    return [...this.byResource.values()].map((r) => ({ kind: r.kind, versions: r.versions }));
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  all(): KindRegistry<any>[] {
    return [...this.byResource.values()];
  }

  /** Ends every open watch of every kind (graceful shutdown); returns how many were open. */
  stopAllWatches(): number {
    return this.all().reduce((n, r) => n + r.stopAllWatches(), 0);
  }

  migrationTargets(): MigrationTarget[] {
    return this.all().map((r) => r.migrationTarget());
  }
}
