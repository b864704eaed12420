import { realTimers, type Timers } from '../../controller/queue.js';
import { processIo, type CommandIo } from '../io.js';
import { connectCluster, type Connect } from './connect.js';

/** Everything the cluster commands take from the outside world; tests pass their own. */
export interface ClusterEnv {
  io: Pick<CommandIo, 'stdout' | 'stderr'>;
  connect: Connect;
  timers: Timers;
  /** Colors go only to a terminal, and only without --no-color. */
  stdoutIsTty: boolean;
  /** A number in [0, 1), for request ids. */
  random(): number;
  /** Calls `handler` on Ctrl-C; returns a function that stops listening. */
  onInterrupt(handler: () => void): () => void;
}

export function processClusterEnv(): ClusterEnv {
  return {
    io: processIo,
    connect: connectCluster,
    timers: realTimers,
    stdoutIsTty: process.stdout.isTTY,
    random: Math.random,
    onInterrupt: (handler) => {
      process.once('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    },
  };
}
