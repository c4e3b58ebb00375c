/**
 * The CEL evaluation worker: runs admission policies' expressions off the event loop, so that the
 * server's time limit (evaluator.ts) can stop a policy that would otherwise stall every request. It
 * keeps compiled expressions by their text. `authorizer` checks are decided by the server: the worker
 * posts each and blocks until the server has written the decision into the evaluation's shared buffer.
 */
import { parentPort } from 'node:worker_threads';
import { compile, toCel, type CelProgram } from './cel';
import {
  authorizerVariable,
  setAuthorizationBridge,
  type AuthorizationCheck,
  type AuthorizationDecision,
} from './authorizer';
import {
  MAX_AUTHORIZATION_CHECKS,
  type AuthorizeRequest,
  type EvaluateRequest,
  type EvaluateResponse,
  type ExpressionResult,
  type ProgramResult,
} from './program';

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

/** Asks the server for each check of one evaluation and waits for its answer in the shared buffer. */
function bridgeFor(id: number, authorization: NonNullable<EvaluateRequest['authorization']>) {
  const flag = new Int32Array(authorization.buffer, 0, 2);
  const bytes = new Uint8Array(authorization.buffer, 8);
  let checks = 0;
  return (check: AuthorizationCheck): AuthorizationDecision => {
    if (++checks > MAX_AUTHORIZATION_CHECKS)
      throw new Error(`more than ${MAX_AUTHORIZATION_CHECKS} authorization checks in one evaluation`);
    Atomics.store(flag, 0, 0);
    const ask: AuthorizeRequest = { authorize: { id, check } };
    parentPort!.postMessage(ask);
    if (Atomics.wait(flag, 0, 0, authorization.waitMs) === 'timed-out')
      return { allowed: false, reason: '', error: 'authorization check timed out' };
    const text = new TextDecoder().decode(bytes.slice(0, Atomics.load(flag, 1)));
    return JSON.parse(text) as AuthorizationDecision;
  };
}

/** The request's own resource, for `authorizer.requestResource`. */
function requestResource(request: unknown) {
  const r = (request ?? {}) as {
    resource?: { group?: string; resource?: string };
    subResource?: string;
    namespace?: string;
    name?: string;
  };
  return {
    group: r.resource?.group ?? '',
    resource: r.resource?.resource ?? '',
    subresource: r.subResource ?? '',
    namespace: r.namespace ?? '',
    name: r.name ?? '',
  };
}

function evaluate(request: EvaluateRequest): ProgramResult {
  setAuthorizationBridge(request.authorization && bridgeFor(request.id, request.authorization));
  try {
    return evaluateProgram(request);
  } finally {
    setAuthorizationBridge(undefined);
  }
}

function evaluateProgram({ program, activation }: EvaluateRequest): ProgramResult {
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
    authorizer: authorizerVariable(requestResource(activation.request)),
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
