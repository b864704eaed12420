import { setMaxListeners } from 'node:events';

/** A signal that aborts when a parent aborts or its deadline passes, until it is disposed. */
export interface LinkedSignal {
  readonly signal: AbortSignal;
  /** True once the deadline passed (not when a parent aborted). */
  readonly timedOut: boolean;
  /** Stops the deadline and lets go of the parents; call it when the work is done. */
  dispose(): void;
}

/**
 * `AbortSignal.any([...parents, AbortSignal.timeout(ms)])`, held strongly until disposed.
 *
 * Written by hand because on Node 20 the built-ins lose their abort: a signal made by
 * AbortSignal.any is referenced only weakly by its sources, so once a garbage collection ran it no
 * longer aborts, even while a fetch or an http.request waits on it (signals.test.ts reproduces it
 * against a server that never answers). A hung sink then hangs for good, a Kubernetes call outlives
 * its timeout and a stalled watch is never noticed. Here the timer and the parents' listeners keep
 * the controller alive, and `dispose` removes them so a long-lived parent collects nothing.
 */
export function linkSignals(parents: readonly (AbortSignal | undefined)[], timeoutMs?: number): LinkedSignal {
  const controller = new AbortController();
  let timedOut = false;
  const sources = parents.filter((p): p is AbortSignal => p !== undefined);
  const onAbort = function (this: AbortSignal) {
    finish(this.reason);
  };
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(
          () => {
            timedOut = true;
            finish(new DOMException(`timed out after ${Math.ceil(timeoutMs)} ms`, 'TimeoutError'));
          },
          Math.max(0, timeoutMs),
        );
  function dispose(): void {
    clearTimeout(timer);
    for (const source of sources) source.removeEventListener('abort', onAbort);
  }
  function finish(reason: unknown): void {
    dispose();
    if (!controller.signal.aborted) controller.abort(reason);
  }
  const aborted = sources.find((s) => s.aborted);
  if (aborted) finish(aborted.reason);
  else for (const source of sources) source.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    dispose,
  };
}

/**
 * A controller whose signal many pieces of work link to at once (a client's "stopping"), so Node's
 * warning about more than 10 abort listeners is not a leak here.
 */
export function sharedAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
