/**
 * The yaml library, loaded on first use. Most requests and most starts never need YAML (it serves
 * `application/yaml` bodies and answers, the OpenAPI document's YAML form, and kubeconfig files), and
 * loading it was 70 ms of a Widget server's start-up CPU in a pod (issue 9): every pod start pays for
 * what loads.
 */
import type * as Yaml from 'yaml';

let loaded: typeof Yaml | undefined;

export function yaml(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (loaded ??= require('yaml') as typeof Yaml);
}
