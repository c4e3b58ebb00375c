/**
 * The AggregatedAPI is described once, in its CRD: the operator's types and defaults are generated from
 * it, and this fails when the generated file no longer matches the CRD (run `npm run generate`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { GENERATED_PATH, renderGenerated } from '../../../src/operator/api/codegen';
import { SPEC_DEFAULTS, certificatePolicy, parseDuration } from '../../../src/operator/api/aggregated-api';

const root = path.resolve(__dirname, '../../..');

test('aggregated-api.generated.ts is what the CRD generates', () => {
  const committed = readFileSync(path.join(root, GENERATED_PATH), 'utf8');
  expect(committed).toContain('export interface AggregatedAPISpec');
  expect(renderGenerated(root)).toBe(committed);
});

test('a default changed in the CRD changes the generated defaults (the generator reads them)', async () => {
  const crd = readFileSync(path.join(root, 'crds/aggregation.example.com_aggregatedapis.yaml'), 'utf8');
  expect(parse(crd).spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.replicas.default).toBe(
    SPEC_DEFAULTS.replicas,
  );
  const { generateFromCrd } = await import('../../../src/operator/api/codegen');
  const changed = generateFromCrd(crd.replace('default: 8760h', 'default: 9000h'));
  expect(changed).toContain('"caDuration": "9000h"');
});

test('the operator applies the CRD defaults to an object that has none', () => {
  const policy = certificatePolicy({ group: 'a.example.com', versions: [{ name: 'v1' }], namespace: 'n' });
  expect(policy.caValidityMs).toBe(parseDuration(SPEC_DEFAULTS.certificates.caDuration));
  expect(policy.servingValidityMs).toBe(parseDuration(SPEC_DEFAULTS.certificates.servingCertificateDuration));
  expect(policy.renewBeforeMs).toBe(parseDuration(SPEC_DEFAULTS.certificates.renewBefore));
});
