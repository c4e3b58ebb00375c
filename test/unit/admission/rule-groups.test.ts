/**
 * rulesMayMatchGroup: whether admission rules can select a server's requests at all, by API group (the
 * server starts its CEL worker only for policies and webhooks that can apply to it).
 */
import { rulesMayMatchGroup } from '../../../src/widget-server/admission/policy/matching';

const GROUP = 'custom.example.com';

test.each([
  ['the group named', [{ apiGroups: ['apps', GROUP] }], true],
  ['any group', [{ apiGroups: ['*'] }], true],
  ['one rule of several', [{ apiGroups: ['rbac.authorization.k8s.io'] }, { apiGroups: [GROUP] }], true],
  ['other groups only', [{ apiGroups: ['aggregation.example.com'] }], false],
  ['the core group', [{ apiGroups: [''] }], false],
  ['a rule without groups', [{ resources: ['widgets'] }], false],
  ['no rules', [], false],
  ['rules absent', undefined, false],
])('%s', (_what, rules, expected) => {
  expect(rulesMayMatchGroup(rules, GROUP)).toBe(expected);
});
