import type { Timers } from '../../src/controller/queue.js';

/** Timers on a hand-driven clock, so a 10 minute timeout passes in no time. */
export class ManualTimers implements Timers {
  private readonly pending: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;
  constructor(public time = 0) {}
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.nextId;
    this.pending.push({ at: this.time + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    const i = this.pending.findIndex((p) => p.id === handle);
    if (i >= 0) this.pending.splice(i, 1);
  }
  now(): number {
    return this.time;
  }
  /** Moves the clock and fires, in time order, every timer that came due. */
  advance(ms: number): void {
    this.time += ms;
    for (const due of this.pending.filter((p) => p.at <= this.time).sort((a, b) => a.at - b.at)) {
      this.clearTimeout(due.id);
      due.fn();
    }
  }
  get count(): number {
    return this.pending.length;
  }
}
