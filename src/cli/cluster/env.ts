import { realTimers, type Timers } from '../../controller/queue.js';
import { processIo, type CommandIo } from '../io.js';
import { colorWanted } from '../color.js';
import type { Connect } from './connection.js';

/** Everything the cluster commands take from the outside world; tests pass their own. */
export interface ClusterEnv {
  io: Pick<CommandIo, 'stdout' | 'stderr'>;
  connect: Connect;
  timers: Timers;
  /**
   * Whether stdout takes colours when no flag says otherwise: a terminal, unless NO_COLOR is set;
   * FORCE_COLOR turns them on anywhere.
   */
  colorByDefault: boolean;
  /** A number in [0, 1), for request ids. */
  random(): number;
  /** Calls `handler` on Ctrl-C; returns a function that stops listening. */
  onInterrupt(handler: () => void): () => void;
}

/** The real connection, loaded when a command first connects: the Kubernetes client is heavy. */
const connectLazily: Connect = async (options) => {
  const { connectCluster } = await import('./connect.js');
  return connectCluster(options);
};

export function processClusterEnv(): ClusterEnv {
  return {
    io: processIo,
    connect: connectLazily,
    timers: realTimers,
    colorByDefault: colorWanted(process.stdout, process.env),
    random: Math.random,
    onInterrupt: (handler) => {
      process.once('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    },
  };
}
