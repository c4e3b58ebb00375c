/**
 * The CEL evaluation worker with its time limit (src/widget-server/admission/policy/cel-evaluator.ts):
 * a policy program's match conditions, variables, validations, messages and audit annotations are
 * evaluated off the event loop; one that runs past the limit fails with a timeout and the next
 * evaluation gets a fresh worker.
 */
import { CelEvaluator, CelTimeoutError } from '../../../src/widget-server/admission/cel/evaluator';
import type { Activation, PolicyProgram } from '../../../src/widget-server/admission/cel/program';

const activation = (object: unknown): Activation => ({
  object,
  oldObject: null,
  request: { operation: 'CREATE', namespace: 'prod' },
  params: { data: { forbidden: 'black' } },
  namespaceObject: { metadata: { name: 'prod', labels: { env: 'prod' } } },
});

const program = (over: Partial<PolicyProgram> = {}): PolicyProgram => ({
  matchConditions: [],
  variables: [],
  validations: [],
  auditAnnotations: [],
  ...over,
});

let evaluator: CelEvaluator;
beforeEach(() => {
  evaluator = new CelEvaluator(1000);
});
afterEach(async () => {
  await evaluator.close();
});

test('validations, messages, variables, params, namespaceObject and audit annotations', async () => {
  const result = await evaluator.evaluate(
    program({
      variables: [{ name: 'color', expression: 'object.spec.color' }],
      validations: [
        {
          expression: 'variables.color != params.data.forbidden',
          messageExpression: "'no ' + variables.color",
        },
        { expression: "namespaceObject.metadata.labels.env == 'prod'" },
        { expression: 'object.spec.nothing == 1' },
      ],
      auditAnnotations: [{ key: 'color', valueExpression: "'saw ' + variables.color" }],
    }),
    activation({ spec: { color: 'black' } }),
  );
  expect(result.matched).toBe(true);
  expect(result.validations[0]).toEqual({ value: false, message: { value: 'no black' } });
  expect(result.validations[1]).toEqual({ value: true });
  expect(result.validations[2].error).toMatch(
    /^expression 'object.spec.nothing == 1' resulted in error: .*nothing/,
  );
  expect(result.auditAnnotations).toEqual([{ value: 'saw black' }]);
});

test('match conditions: a false one skips the policy, else an error is reported', async () => {
  const skip = await evaluator.evaluate(
    program({
      matchConditions: [
        { name: 'broken', expression: 'object.nope' },
        { name: 'not-prod', expression: "request.namespace != 'prod'" },
      ],
      validations: [{ expression: 'false' }],
    }),
    activation({}),
  );
  expect(skip).toMatchObject({ matched: false, validations: [] });
  const error = await evaluator.evaluate(
    program({ matchConditions: [{ name: 'broken', expression: 'object.nope' }] }),
    activation({}),
  );
  expect(error.matchError).toMatch(/^matchCondition 'broken' resulted in error/);
});

test('an expression that does not compile is reported as such', async () => {
  const result = await evaluator.evaluate(
    program({ validations: [{ expression: 'object.(' }] }),
    activation({}),
  );
  expect(result.compileError).toMatch(/compilation failed/);
});

test('an evaluation past the time limit fails with a timeout; the next one gets a fresh worker', async () => {
  const quick = new CelEvaluator(200);
  try {
    const big = Array.from({ length: 3000 }, (_, i) => i);
    const started = Date.now();
    await expect(
      quick.evaluate(
        program({
          validations: [{ expression: 'object.all(x, object.all(y, object.all(z, x + y + z >= 0)))' }],
        }),
        activation(big),
      ),
    ).rejects.toBeInstanceOf(CelTimeoutError);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(quick.restarts).toBe(1);
    const after = await quick.evaluate(
      program({ validations: [{ expression: '1 + 1 == 2' }] }),
      activation({}),
    );
    expect(after.validations).toEqual([{ value: true }]);
  } finally {
    await quick.close();
  }
});
