/**
 * What the evaluation worker (cel-worker.ts) is asked and answers: one policy's expressions (match
 * conditions, variables, validations with their message expressions, audit annotations) over one
 * request's activation, and the result of each. Plain data: it crosses the worker boundary.
 */

export interface PolicyProgram {
  matchConditions: Array<{ name: string; expression: string }>;
  variables: Array<{ name: string; expression: string }>;
  validations: Array<{ expression: string; messageExpression?: string }>;
  auditAnnotations: Array<{ key: string; valueExpression: string }>;
}

/** The CEL variables of an admission policy (object and oldObject null where the request has none). */
export interface Activation {
  object: unknown;
  oldObject: unknown;
  request: unknown;
  params: unknown;
  namespaceObject: unknown;
}

export interface ExpressionResult {
  value?: unknown;
  error?: string;
}

export interface ProgramResult {
  /** An expression that does not compile: a configuration error (the failure policy decides). */
  compileError?: string;
  /** False when a match condition evaluated to false: the policy does not apply to the request. */
  matched: boolean;
  /** A match condition failed to evaluate (and none was false). */
  matchError?: string;
  validations: Array<ExpressionResult & { message?: ExpressionResult }>;
  auditAnnotations: ExpressionResult[];
}

export interface EvaluateRequest {
  id: number;
  program: PolicyProgram;
  activation: Activation;
}

export interface EvaluateResponse {
  id: number;
  result: ProgramResult;
}
