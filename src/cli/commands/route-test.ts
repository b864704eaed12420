import type { Command } from 'commander';
import {
  evaluateRoute,
  type RouteEvaluation,
  type RouteRequest,
  type RoutedDestination,
} from '../../routers/istio/evaluate.js';
import { MESH } from '../../routers/istio/hosts.js';
import { istioResources, loadManifestFiles } from '../../routers/istio/manifests.js';
import { selectVirtualService } from '../../routers/istio/select.js';
import {
  evaluateHttpRoute,
  type HttpRouteEvaluation,
  type HttpRouteRequest,
  type RoutedBackend,
} from '../../routers/gateway-api/evaluate.js';
import { gatewayResources } from '../../routers/gateway-api/manifests.js';
import { selectHttpRoutes } from '../../routers/gateway-api/select.js';
import type { HttpRoute } from '../../routers/gateway-api/types.js';
import type { RegisterCommand } from './index.js';
import { processIo, type CommandIo } from '../io.js';

export interface RouteTestOptions {
  file: string[];
  host: string;
  gateway?: string;
  namespace?: string;
  uri?: string;
  method?: string;
  header?: string[];
  cookie?: string[];
  query?: string[];
  json?: boolean;
}

class UsageError extends Error {}

/** `name: value` or `name=value` into a pair, or a usage error that shows the expected form. */
function pair(text: string, separator: ':' | '=', option: string, example: string): [string, string] {
  const at = text.indexOf(separator);
  if (at <= 0) throw new UsageError(`${option} "${text}" is not of the form ${example}`);
  return [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}

function toRequest(options: RouteTestOptions): RouteRequest {
  const request: RouteRequest = { host: options.host };
  if (options.gateway !== undefined) request.gateway = options.gateway;
  if (options.uri !== undefined) request.uri = options.uri;
  if (options.method !== undefined) request.method = options.method;
  if (options.header?.length) {
    request.headers = Object.fromEntries(
      options.header.map((h) => pair(h, ':', '--header', "'end-user: testuser'")),
    );
  }
  if (options.cookie?.length) {
    request.cookies = Object.fromEntries(
      options.cookie.map((c) => pair(c, '=', '--cookie', "'email=a@b.com'")),
    );
  }
  if (options.query?.length) {
    request.queryParams = Object.fromEntries(options.query.map((q) => pair(q, '=', '--query', "'name=xx'")));
  }
  return request;
}

const percent = (p: number) => `${Number(p.toFixed(2))}%`;

function describeDestinations(destinations: readonly RoutedDestination[]): string {
  const hosts = new Set(destinations.map((d) => d.host));
  const shown = destinations.filter((d) => d.percent > 0);
  if (!shown.length) return 'nothing (no destination has a weight)';
  return shown
    .map((d) => {
      const target = d.subset === undefined ? d.host : hosts.size > 1 ? `${d.host}/${d.subset}` : d.subset;
      return `${target} ${percent(d.percent)}`;
    })
    .join(', ');
}

/** `reviews: route http[0] (match headers end-user exact testuser) -> v2 10%, v3 90%` */
export function formatEvaluation(vsName: string, evaluation: RouteEvaluation): string[] {
  if (evaluation.kind === 'no-match') {
    return [`${vsName}: no route matches; Istio answers 404`, ...evaluation.notes.map((n) => `  note: ${n}`)];
  }
  const route = `route ${evaluation.path.replace(/^spec\./, '')}${evaluation.name ? ` "${evaluation.name}"` : ''}`;
  const conditions =
    evaluation.matched === 'no conditions' ? 'no match conditions' : `match ${evaluation.matched}`;
  const target =
    evaluation.action === 'route'
      ? describeDestinations(evaluation.destinations)
      : `${evaluation.action} (no destination)`;
  const mirror = evaluation.mirror
    ? `; mirrors ${percent(evaluation.mirror.percent)} to ${evaluation.mirror.subset ?? evaluation.mirror.host}`
    : '';
  return [
    `${vsName}: ${route} (${conditions}) -> ${target}${mirror}`,
    ...evaluation.notes.map((n) => `  note: ${n}`),
  ];
}

function describeBackends(backends: readonly RoutedBackend[]): string {
  const shown = backends.filter((b) => b.percent > 0);
  if (!shown.length) return 'nothing (no backendRef has a weight; the request is answered with 500)';
  return shown
    .map((b) => {
      const name = `${b.kind ? `${b.kind} ` : ''}${b.namespace ? `${b.namespace}/` : ''}${b.name}`;
      return `${name}${b.port === undefined ? '' : `:${b.port}`} ${percent(b.percent)}`;
    })
    .join(', ');
}

/** `HTTPRoute prod/reviews: rule[0] "main" (match path PathPrefix /) -> reviews-stable:9080 90%, ...` */
export function formatHttpRouteEvaluation(label: string, evaluation: HttpRouteEvaluation): string[] {
  const notes = evaluation.notes.map((n) => `  note: ${n}`);
  if (evaluation.kind === 'no-match') {
    return [`${label}: no rule matches; the request is answered with 404`, ...notes];
  }
  const rule = `rule[${evaluation.rule}]${evaluation.name ? ` "${evaluation.name}"` : ''}`;
  const mirror = evaluation.mirror
    ? `; mirrors ${percent(evaluation.mirror.percent)} to ${evaluation.mirror.name}`
    : '';
  return [
    `${label}: ${rule} (match ${evaluation.matched}) -> ${describeBackends(evaluation.backends)}${mirror}`,
    ...notes,
  ];
}

const routeLabel = (route: HttpRoute) =>
  `HTTPRoute ${route.metadata.namespace ?? 'default'}/${route.metadata.name}`;

/**
 * Gateway API merges the rules of every route attached to one parent and picks the most specific
 * match among them; on a tie the route first by namespace and name wins (creation time, which files
 * do not show, comes before that in Gateway API's order). One route of all their rules, in that order,
 * gives the same answer.
 */
function printHttpRoutes(
  routes: readonly HttpRoute[],
  request: RouteRequest,
  options: RouteTestOptions,
  io: CommandIo,
): number {
  const offsets: { route: HttpRoute; first: number }[] = [];
  const rules = routes.flatMap((route) => {
    offsets.push({ route, first: offsets.reduce((n, o) => n + (o.route.spec.rules ?? []).length, 0) });
    return route.spec.rules ?? [];
  });
  const [first] = routes;
  if (!first) return 0;
  const merged: HttpRoute = { ...first, spec: { ...first.spec, rules } };
  delete merged.spec.hostnames;
  const input: HttpRouteRequest = {};
  if (request.uri !== undefined) input.uri = request.uri;
  if (request.method !== undefined) input.method = request.method;
  if (request.headers) input.headers = request.headers;
  if (request.cookies) input.cookies = request.cookies;
  if (request.queryParams) input.queryParams = request.queryParams;
  const evaluation = evaluateHttpRoute(merged, input);
  let owner = first;
  if (evaluation.kind === 'matched') {
    const at = offsets.filter((o) => o.first <= evaluation.rule).at(-1) ?? { route: first, first: 0 };
    owner = at.route;
    evaluation.rule -= at.first;
  }
  evaluation.route = owner.metadata.name;
  const label =
    evaluation.kind === 'matched' || routes.length === 1
      ? routeLabel(owner)
      : routes.map(routeLabel).join(', ');
  if (options.json) {
    io.stdout(
      JSON.stringify(
        {
          request: { ...request, ...(request.gateway === undefined ? { service: request.host } : {}) },
          router: 'gatewayAPI',
          namespace: owner.metadata.namespace ?? 'default',
          ...evaluation,
        },
        null,
        2,
      ),
    );
  } else {
    for (const line of formatHttpRouteEvaluation(label, evaluation)) io.stdout(line);
  }
  return 0;
}

/** Routes the described request through the VirtualServices (or else the HTTPRoutes) in the files; returns the exit code. */
export async function runRouteTest(options: RouteTestOptions, io: CommandIo): Promise<number> {
  let request: RouteRequest;
  try {
    request = toRequest(options);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(err.message);
    return 1;
  }
  const { manifests, problems } = await loadManifestFiles(options.file, (f) => io.readFile(f));
  const resources = istioResources(manifests);
  const gateway = gatewayResources(manifests);
  const broken = [...problems, ...resources.problems, ...gateway.problems];
  if (broken.length) {
    for (const p of broken)
      io.stderr(`${p.line === undefined ? p.file : `${p.file}:${p.line}`}: ${p.message}`);
    return 1;
  }
  const target: { host: string; gateway?: string; namespace?: string } = { host: request.host };
  if (request.gateway !== undefined) target.gateway = request.gateway;
  if (options.namespace !== undefined) target.namespace = options.namespace;
  const selected = selectVirtualService(resources.virtualServices, target);
  const attached = selected.ok ? [] : selectHttpRoutes(gateway.httpRoutes, target);
  if (!selected.ok && selected.reason === 'unbound' && attached.length) {
    return printHttpRoutes(attached, request, options, io);
  }
  if (!selected.ok) {
    const noRoute = gateway.httpRoutes.length
      ? `; no HTTPRoute attaches to ${request.gateway === undefined ? `Service ${request.host}` : `Gateway ${request.gateway} for host ${request.host}`} either`
      : '';
    if (options.json)
      io.stdout(JSON.stringify({ kind: selected.reason, message: selected.message + noRoute }, null, 2));
    else io.stdout(selected.message + noRoute);
    return selected.reason === 'ambiguous' ? 1 : 0;
  }
  const vs = selected.value;
  const delegates = resources.virtualServices.filter((v) => !v.spec.hosts?.length);
  const evaluation = evaluateRoute(vs, resources.destinationRules, request, delegates);
  if (options.json) {
    io.stdout(
      JSON.stringify({ request: { ...request, gateway: request.gateway ?? MESH }, ...evaluation }, null, 2),
    );
  } else {
    for (const line of formatEvaluation(vs.metadata.name, evaluation)) io.stdout(line);
  }
  return 0;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export const registerRouteTest: RegisterCommand = (program: Command) => {
  program
    .command('route-test')
    .description(
      'show which route a request takes through the VirtualServices or HTTPRoutes in YAML files, and its split by subset or Service',
    )
    .requiredOption(
      '-f, --file <files...>',
      'YAML files with the VirtualServices and DestinationRules, or the HTTPRoutes',
    )
    .requiredOption(
      '--host <host>',
      'the host the request is for, e.g. reviews or demo4.a.com (an HTTPRoute: the parentRef Service, or one of its hostnames at --gateway)',
    )
    .option(
      '--gateway <gateway>',
      'the gateway that receives it (name or namespace/name); default: mesh, a sidecar',
    )
    .option('--namespace <namespace>', "the client's namespace, for short host names")
    .option('--uri <uri>', 'path and query string, e.g. /greet?name=xx', '/')
    .option('--method <method>', 'HTTP method', 'GET')
    .option('-H, --header <header>', "a request header, 'name: value' (repeatable)", collect, [])
    .option('--cookie <cookie>', "a cookie, 'name=value' (repeatable)", collect, [])
    .option('--query <param>', "a query parameter, 'name=value' (repeatable)", collect, [])
    .option('--json', 'print the result as JSON')
    .action(async (options: RouteTestOptions) => {
      process.exitCode = await runRouteTest(options, processIo);
    });
};
