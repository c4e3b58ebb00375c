/**
 * The kinds this server serves, in its one API group (a flag): the map that routing, discovery,
 * OpenAPI, storage and metrics are driven by. Adding a kind is a folder beside widgets/ with its
 * KindDefinition, and one entry here (docs/adding-a-kind.md).
 */
import type { AnyKind } from './kind';
import { widgetKind } from './widgets';

export const KINDS: readonly AnyKind[] = [widgetKind];

/** Every version any kind has, in the priority order of the kinds' own lists. */
export function allVersions(kinds: readonly AnyKind[] = KINDS): string[] {
  const out: string[] = [];
  for (const kind of kinds) for (const v of kind.versions) if (!out.includes(v.version)) out.push(v.version);
  return out;
}
