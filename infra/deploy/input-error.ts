// A deploy input the operator must fix (a file, a flag, a secret's content): reported as one
// line, without a stack trace (cli.ts).
export class InputError extends Error {
  readonly code = 'input_invalid';
}
