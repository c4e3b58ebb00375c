/**
 * What the evaluation worker (worker.ts) is asked and answers: one policy's expressions (match
 * conditions, variables, validations with their message expressions, audit annotations) over one
 * request's activation, and the result of each. Plain data: it crosses the worker boundary.
 */
import type { AuthorizationCheck } from './authorizer';

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
  /**
   * Where the server writes the answers to the `authorizer` checks the worker asks for (see
   * AuthorizationBridge); absent when there is no authorizer, and every check then errors.
   */
  authorization?: { buffer: SharedArrayBuffer; waitMs: number };
}

export interface EvaluateResponse {
  id: number;
  result: ProgramResult;
}

/** A worker's question to the server during an evaluation: decide this authorizer check. */
export interface AuthorizeRequest {
  authorize: { id: number; check: AuthorizationCheck };
}

/**
 * The shared buffer of one evaluation's authorizer checks: an Int32 flag (0 waiting, 1 answered) and
 * the answer's byte length, then the answer as JSON. The worker blocks on the flag (Atomics.wait) while
 * the server, whose event loop is free, asks its authorizer and writes the answer.
 */
export const AUTHORIZATION_BUFFER_BYTES = 8 + 16 * 1024;
/** Checks one evaluation may make: each is a round trip to kube-apiserver. */
export const MAX_AUTHORIZATION_CHECKS = 64;
