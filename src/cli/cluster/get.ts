import { gatewayRoutingOf } from '../../api/routing.js';
import type { Command } from 'commander';
import type { KubeObject } from '../../kube/resources.js';
import type { RegisterCommand } from '../commands/index.js';
import type { ClusterEnv } from './env.js';
import { usageError } from './errors.js';
import { age, formatTable, paintPhase, truncate, type Cell, type Style } from './format.js';
import { percent, shortRevision, stepOf, viewRelease, type ReleaseView } from './release-view.js';
import { matchesSelector, parseSelector } from './selector.js';
import {
  addClusterFlags,
  durationFlag,
  outputFormat,
  printObject,
  reportFailures,
  styleOf,
  withCluster,
  type ClusterFlags,
} from './session.js';
import { watchRelease } from './watch.js';

export interface GetFlags extends ClusterFlags {
  allNamespaces?: boolean;
  watch?: boolean;
  timeout?: string;
  /** -l: kubectl's label selector. */
  selector?: string;
}

const LIST_FORMATS = ['text', 'wide', 'name', 'json', 'yaml'] as const;

/** Long enough for the reason of a hold; the whole message is in `get NAME --watch` and -o yaml. */
const MESSAGE_WIDTH = 60;

const HEADER = ['NAME', 'PHASE', 'STEP', 'WEIGHT', 'ACTUAL', 'CANARY', 'STABLE', 'AGE', 'MESSAGE'];
/** -o wide adds where the release acts and what it last decided, before the message. */
const WIDE = ['MODE', 'ROUTE', 'SIDES', 'LAST DECISION'];

/** `subsets` or `managed:podinfo`: how the release finds its two revisions. */
function modeOf(view: ReleaseView): string {
  if (!view.spec) return '-';
  return view.spec.targetRef ? `managed:${view.spec.targetRef.name}` : 'subsets';
}

function wideCells(view: ReleaseView): Cell[] {
  const istio = view.spec?.trafficRouting.istio;
  // the route canaria patches, and what its two sides are: Istio subsets, or Gateway API Services
  const gateway = view.spec && gatewayRoutingOf(view.spec);
  const decision = view.status.decisions?.at(-1);
  return [
    { text: modeOf(view) },
    {
      text: istio
        ? `virtualservice/${istio.virtualService.name}`
        : gateway
          ? `httproute/${gateway.httpRoute.name}`
          : '-',
    },
    {
      text: istio
        ? `${istio.stableSubset}->${istio.canarySubset}`
        : gateway
          ? `${gateway.stableService}->${gateway.canaryService}`
          : '-',
    },
    { text: decision ? `${decision.action}/${decision.reason}` : '-' },
  ];
}

function releaseRow(
  object: KubeObject,
  now: number,
  style: Style,
  withNamespace: boolean,
  wide: boolean,
): Cell[] {
  const view = viewRelease(object);
  const s = view.status;
  const created = view.createdAt === undefined ? undefined : Date.parse(view.createdAt);
  const phase = s.phase ?? '-';
  const cells: Cell[] = [
    { text: view.name },
    { text: phase, paint: (padded) => paintPhase(style, s.phase, padded) },
    { text: stepOf(view) },
    { text: percent(s.canaryWeight) },
    { text: percent(s.actualCanaryWeight) },
    { text: shortRevision(s.canaryRevision) },
    { text: shortRevision(s.stableRevision) },
    { text: created === undefined ? '-' : age(now - created) },
    ...(wide ? wideCells(view) : []),
    { text: truncate(s.message ?? (s.phase ? '' : 'waiting for the canaria controller'), MESSAGE_WIDTH) },
  ];
  return withNamespace ? [{ text: view.namespace }, ...cells] : cells;
}

/** The releases as kubectl would print them: a table, or -o json / -o yaml. */
export function formatReleases(
  objects: readonly KubeObject[],
  options: { now: number; style: Style; withNamespace: boolean; wide?: boolean },
): string[] {
  const wide = options.wide === true;
  const columns = wide ? [...HEADER.slice(0, -1), ...WIDE, 'MESSAGE'] : HEADER;
  const header = options.withNamespace ? ['NAMESPACE', ...columns] : columns;
  return formatTable(
    header,
    objects.map((o) => releaseRow(o, options.now, options.style, options.withNamespace, wide)),
  );
}

/** -o name, as kubectl prints it: `canaryrelease.canaria.dev/reviews`. */
export const nameOf = (object: KubeObject): string => `canaryrelease.canaria.dev/${object.metadata.name}`;

const byNamespaceAndName = (a: KubeObject, b: KubeObject) =>
  (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
  a.metadata.name.localeCompare(b.metadata.name);

/** `get [NAME]` and `get NAME --watch`; returns the exit code. */
export function runGet(name: string | undefined, flags: GetFlags, env: ClusterEnv): Promise<number> {
  return reportFailures(env, async () => {
    const started = env.timers.now();
    const format = outputFormat(flags, flags.watch ? ['text', 'json', 'yaml'] : LIST_FORMATS);
    const timeoutMs = durationFlag('--timeout', flags.timeout);
    if (flags.watch && name === undefined) {
      throw usageError('--watch follows one release: kubectl canaria get NAME --watch');
    }
    if (timeoutMs !== undefined && !flags.watch) throw usageError('--timeout goes with --watch');
    if (flags.allNamespaces && name !== undefined) {
      throw usageError('a release is named within one namespace: use -n NAMESPACE instead of -A');
    }
    const selector = flags.selector === undefined ? undefined : parseSelector(flags.selector);
    if (selector && name !== undefined) {
      throw usageError('name a release or select them with -l, not both');
    }
    const all = flags.allNamespaces === true;
    return withCluster(
      env,
      flags,
      (cluster) => {
        if (name !== undefined && flags.watch) {
          const remaining =
            timeoutMs === undefined ? undefined : Math.max(0, timeoutMs - (env.timers.now() - started));
          return watchRelease(cluster, name, flags, env, remaining, timeoutMs);
        }
        const objects =
          name === undefined
            ? cluster.kube
                .list('CanaryRelease', all ? undefined : cluster.namespace)
                .filter((o) => !selector || matchesSelector(selector, o.metadata.labels))
                .sort(byNamespaceAndName)
            : [cluster.release(name)];
        if (format === 'name') {
          for (const object of objects) env.io.stdout(nameOf(object));
          return Promise.resolve(0);
        }
        if (format === 'json' || format === 'yaml') {
          printObject(
            env,
            format,
            name === undefined ? { apiVersion: 'v1', kind: 'List', items: objects } : objects[0],
          );
          return Promise.resolve(0);
        }
        if (!objects.length) {
          env.io.stderr(
            all ? 'No canaryreleases found.' : `No canaryreleases found in namespace ${cluster.namespace}.`,
          );
          return Promise.resolve(0);
        }
        const lines = formatReleases(objects, {
          now: env.timers.now(),
          style: styleOf(flags, env),
          withNamespace: all,
          wide: format === 'wide',
        });
        for (const line of lines) env.io.stdout(line);
        return Promise.resolve(0);
      },
      { allNamespaces: all, timeoutMs },
    );
  });
}

export function registerGet(env: () => ClusterEnv): RegisterCommand {
  return (program: Command) => {
    const command = program
      .command('get')
      .description('list canary releases, or follow one with --watch')
      .argument('[name]', 'a CanaryRelease; all in the namespace when left out')
      .option('-A, --all-namespaces', 'list the releases of every namespace')
      .option('-w, --watch', 'print the release again on every change, until it is promoted or rolled back')
      .option('--timeout <duration>', 'with --watch: give up after this long (exit code 2), e.g. 10m')
      .option('-l, --selector <selector>', 'only releases whose labels match, e.g. -l team=shop,tier!=cache');
    addClusterFlags(command, { output: LIST_FORMATS }).action(
      async (name: string | undefined, flags: GetFlags) => {
        process.exitCode = await runGet(name, flags, env());
      },
    );
  };
}
