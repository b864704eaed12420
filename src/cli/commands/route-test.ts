import type { Command } from 'commander';
import {
  evaluateRoute,
  type RouteEvaluation,
  type RouteRequest,
  type RoutedDestination,
} from '../../istio/evaluate.js';
import { MESH } from '../../istio/hosts.js';
import { istioResources, loadManifestFiles } from '../../istio/manifests.js';
import { selectVirtualService } from '../../istio/select.js';
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

/** Routes the described request through the VirtualServices in the files; returns the exit code. */
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
  const broken = [...problems, ...resources.problems];
  if (broken.length) {
    for (const p of broken)
      io.stderr(`${p.line === undefined ? p.file : `${p.file}:${p.line}`}: ${p.message}`);
    return 1;
  }
  const target: { host: string; gateway?: string; namespace?: string } = { host: request.host };
  if (request.gateway !== undefined) target.gateway = request.gateway;
  if (options.namespace !== undefined) target.namespace = options.namespace;
  const selected = selectVirtualService(resources.virtualServices, target);
  if (!selected.ok) {
    if (options.json)
      io.stdout(JSON.stringify({ kind: selected.reason, message: selected.message }, null, 2));
    else io.stdout(selected.message);
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
      'show which route a request takes through the VirtualServices in YAML files, and its split by subset',
    )
    .requiredOption('-f, --file <files...>', 'YAML files with the VirtualServices and DestinationRules')
    .requiredOption('--host <host>', 'the host the request is for, e.g. reviews or demo4.a.com')
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
