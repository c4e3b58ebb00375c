/**
 * The CEL evaluation worker: runs admission policies' expressions off the event loop, so that the
 * server's time limit (cel-evaluator.ts) can stop a policy that would otherwise stall every request. It
 * keeps compiled expressions by their text.
 */
import { parentPort } from 'node:worker_threads';
import { compile, toCel, type CelProgram } from './cel';
import type { EvaluateRequest, EvaluateResponse, ExpressionResult, ProgramResult } from './program';

/** Compiled expressions kept (by text); the oldest go first. */
const MAX_PROGRAMS = 2000;
const programs = new Map<string, CelProgram>();

function compiled(expression: string): CelProgram {
  let p = programs.get(expression);
  if (!p) {
    p = compile(expression);
    if (programs.size >= MAX_PROGRAMS) programs.delete(programs.keys().next().value as string);
    programs.set(expression, p);
  }
  return p;
}

function evaluate({ program, activation }: EvaluateRequest): ProgramResult {
  const result: ProgramResult = { matched: true, validations: [], auditAnnotations: [] };
  let all: {
    matches: CelProgram[];
    variables: CelProgram[];
    validations: Array<{ check: CelProgram; message?: CelProgram }>;
    audits: CelProgram[];
  };
  try {
    all = {
      matches: program.matchConditions.map((m) => compiled(m.expression)),
      variables: program.variables.map((v) => compiled(v.expression)),
      validations: program.validations.map((v) => ({
        check: compiled(v.expression),
        message: v.messageExpression ? compiled(v.messageExpression) : undefined,
      })),
      audits: program.auditAnnotations.map((a) => compiled(a.valueExpression)),
    };
  } catch (e) {
    return { ...result, compileError: (e as Error).message };
  }
  const variables = new Map<string, unknown>();
  const bindings: Record<string, unknown> = {
    object: toCel(activation.object ?? null),
    oldObject: toCel(activation.oldObject ?? null),
    request: toCel(activation.request),
    params: toCel(activation.params ?? null),
    namespaceObject: toCel(activation.namespaceObject ?? null),
    variables,
  };
  // Match conditions: any false skips the policy; otherwise the first error is the answer.
  let matchError: string | undefined;
  for (const [i, run] of all.matches.entries()) {
    const r = run(bindings);
    if (r.error !== undefined) {
      matchError ??= `matchCondition '${program.matchConditions[i].name}' resulted in error: ${r.error}`;
    } else if (r.value === false) {
      return { ...result, matched: false };
    } else if (r.value !== true) {
      matchError ??= `matchCondition '${program.matchConditions[i].name}' must evaluate to bool`;
    }
  }
  if (matchError) return { ...result, matchError };
  // Variables in order, each seeing the ones before it; one that fails is absent, so an expression
  // using it fails too.
  for (const [i, run] of all.variables.entries()) {
    const r = run(bindings);
    if (r.error === undefined) variables.set(program.variables[i].name, toCel(r.value));
  }
  for (const [i, { check, message }] of all.validations.entries()) {
    const r: ExpressionResult & { message?: ExpressionResult } = check(bindings);
    if (r.error !== undefined)
      r.error = `expression '${program.validations[i].expression}' resulted in error: ${r.error}`;
    else if (r.value !== true && message) r.message = message(bindings);
    result.validations.push(r);
  }
  for (const run of all.audits) result.auditAnnotations.push(run(bindings));
  return result;
}

parentPort!.on('message', (request: EvaluateRequest) => {
  const response: EvaluateResponse = { id: request.id, result: evaluate(request) };
  parentPort!.postMessage(response);
});
parentPort!.postMessage('ready');
