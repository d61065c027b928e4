// functions-framework runs every request inside a `domain` (function_wrappers.js), so that it can
// answer 500 for an exception thrown asynchronously by that request. While a domain is active,
// Node's domain module tags every promise and async resource created with it and enters and exits
// it around every callback. For a batch runner, whose work is thousands of promises, that
// bookkeeping is a sizeable share of its CPU (`npm run bench:run` measures it:
// test/bench/README.md).
//
// The batch runners leave the domain as they start: their work is promise-based and every failure
// reaches the handler's promise (→ nack). An exception that escapes anyway still reaches
// functions-framework's `uncaughtException` handler, which answers 500 and replaces the instance,
// so Pub/Sub redelivers — what the domain would have led to as well, minus an instance that keeps
// running in an unknown state. It also keeps long-lived clients (the gRPC channel, sockets)
// created during a first request from staying bound to that request's domain for good.
// https://nodejs.org/api/domain.html (deprecated)

interface DomainProcess {
  domain?: { exit(): void } | null;
}

/** Leaves the request's domain, if any: what runs after this call is bound to no domain. */
export function leaveRequestDomain(): void {
  (process as DomainProcess).domain?.exit();
}
