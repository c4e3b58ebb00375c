/**
 * The input bounds every decoder and patch applier of the Widget server obeys, in one process-wide
 * object (as k8s.io/apiserver keeps jsonpatch.AccumulatedCopySizeLimit process-wide), set once from the
 * command line by startWidgetServer. Defaults are kube-apiserver's where it has the same limit.
 */

export interface InputLimits {
  /**
   * Deepest nesting of objects and arrays accepted in any request body (objects, patches,
   * DeleteOptions), checked by a non-recursive scan before any recursive code sees the value.
   * Go's encoding/json stops at 10000, but the yaml package composes recursively and overflows
   * Node's default stack from about 900 levels (less while its code is not yet optimized); 500 keeps
   * a wide margin for it and for the recursive merge code, and no Widget field nests more than a few
   * levels.
   */
  maxNestingDepth: number;
  /** k8s.io/apiserver handlers/patch.go maxJSONPatchOperations. */
  maxJsonPatchOperations: number;
  /** kube-apiserver's JSONPatchMaxCopyBytes (jsonpatch.AccumulatedCopySizeLimit): 3 MiB. */
  jsonPatchMaxCopyBytes: number;
  /** Largest serialized object a patch may produce; kube-apiserver's request body limit, 3 MiB. */
  maxObjectBytes: number;
  /** YAML alias nodes a document may expand (the yaml package's maxAliasCount). */
  maxYamlAliasCount: number;
}

export const DEFAULT_INPUT_LIMITS: Readonly<InputLimits> = Object.freeze({
  maxNestingDepth: 500,
  maxJsonPatchOperations: 10000,
  jsonPatchMaxCopyBytes: 3 * 1024 * 1024,
  maxObjectBytes: 3 * 1024 * 1024,
  maxYamlAliasCount: 100,
});

const current: InputLimits = { ...DEFAULT_INPUT_LIMITS };

export function inputLimits(): Readonly<InputLimits> {
  return current;
}

/** Sets the process-wide limits (startWidgetServer; tests that need a smaller bound). */
export function configureInputLimits(limits: Partial<InputLimits>): void {
  for (const [key, value] of Object.entries(limits) as [keyof InputLimits, number | undefined][]) {
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${key} must be a positive integer`);
    current[key] = value;
  }
}
