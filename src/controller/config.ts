import { hostname } from 'node:os';
import { z } from 'zod';
import { validate as validCron } from 'node-cron';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  DEFAULT_ERROR_RULES,
  DEFAULT_METRICS_PROVIDER,
  errorRules as errorRulesSchema,
  mergeErrorRules,
  type CompleteErrorRules,
} from '../api/analysis-template.js';
import { parseDuration } from '../api/duration.js';
import {
  parseProvidersFile,
  type MetricsProviderConfig,
  type MetricsProviderSettings,
} from '../metrics/registry.js';
import { parseNotificationsFile, type OperatorSink } from '../notify/registry.js';
import { parseSelector, shardId, UNSHARDED, type Shard } from './shard.js';
import { parseRouterKeys } from '../routers/registry.js';
import type { RouterKey } from '../routers/router.js';

/**
 * One setting of the controller: its flag, the environment variable that can set it instead, and
 * what it means. The table drives the CLI's options, the error messages and the chart's docs.
 */
export interface Setting {
  flag: string;
  env: string;
  description: string;
  default?: string;
}

export const SETTINGS = {
  kubeconfig: {
    flag: '--kubeconfig',
    env: 'KUBECONFIG',
    description:
      'kubeconfig file; otherwise $KUBECONFIG, ~/.kube/config, or the in-cluster config inside a pod',
  },
  context: { flag: '--context', env: 'CANARIA_CONTEXT', description: 'kubeconfig context' },
  namespaces: {
    flag: '--namespaces',
    env: 'CANARIA_NAMESPACES',
    description: 'comma-separated namespaces to watch; all when empty',
    default: '',
  },
  prometheusUrl: {
    flag: '--prometheus-url',
    env: 'CANARIA_PROMETHEUS_URL',
    description:
      'Prometheus (or Thanos, Mimir, Cortex) base URL of the metrics provider named "default"; the --prometheus-* flags configure that provider',
    default: 'http://prometheus.istio-system:9090',
  },
  prometheusTimeout: {
    flag: '--prometheus-timeout',
    env: 'CANARIA_PROMETHEUS_TIMEOUT',
    description: 'budget of one Prometheus call, retries included',
    default: '10s',
  },
  prometheusBearerTokenFile: {
    flag: '--prometheus-bearer-token-file',
    env: 'CANARIA_PROMETHEUS_BEARER_TOKEN_FILE',
    description: 'file with a bearer token, re-read when it rotates',
  },
  prometheusUsername: {
    flag: '--prometheus-username',
    env: 'CANARIA_PROMETHEUS_USERNAME',
    description: 'basic auth user',
  },
  prometheusPassword: {
    flag: '--prometheus-password',
    env: 'CANARIA_PROMETHEUS_PASSWORD',
    description: 'basic auth password',
  },
  prometheusHeaders: {
    flag: '--prometheus-header',
    env: 'CANARIA_PROMETHEUS_HEADERS',
    description:
      "extra header 'Name: value' (repeatable; in the env, separated by newlines), e.g. X-Scope-OrgID",
  },
  prometheusCaFile: {
    flag: '--prometheus-ca-file',
    env: 'CANARIA_PROMETHEUS_CA_FILE',
    description: "PEM file of the CA of Prometheus' certificate",
  },
  prometheusWindowGranularity: {
    flag: '--prometheus-window-granularity',
    env: 'CANARIA_PROMETHEUS_WINDOW_GRANULARITY',
    description: 'analysis windows are rounded down to this; keep it <= the shortest analysis interval',
    default: '1m',
  },
  metricsProvidersFile: {
    flag: '--metrics-providers-file',
    env: 'CANARIA_METRICS_PROVIDERS_FILE',
    description:
      'YAML file of more named metrics providers, {providers: [{name, type, address, timeout, bearerTokenFile, basicAuth: {usernameFile, passwordFile}, headers, caFile, ...}]}; templates pick one with provider: {name}',
  },
  errorHttpCodes: {
    flag: '--error-http-codes',
    env: 'CANARIA_ERROR_HTTP_CODES',
    description:
      'comma-separated HTTP codes (429) or classes (5xx) the built-in request metrics count as errors, unless a release or metric says otherwise',
    default: DEFAULT_ERROR_RULES.httpCodes.join(','),
  },
  errorResponseFlags: {
    flag: '--error-response-flags',
    env: 'CANARIA_ERROR_RESPONSE_FLAGS',
    description:
      'comma-separated Envoy response flags (UF, URX, NR, ...) that count as errors whatever the code',
    default: DEFAULT_ERROR_RULES.responseFlags.join(','),
  },
  errorGrpcCodes: {
    flag: '--error-grpc-codes',
    env: 'CANARIA_ERROR_GRPC_CODES',
    description:
      "comma-separated gRPC statuses (by name) that count as errors, from Istio's grpc_response_status",
    default: DEFAULT_ERROR_RULES.grpcCodes.join(','),
  },
  leaderElect: {
    flag: '--leader-elect',
    env: 'CANARIA_LEADER_ELECT',
    description: 'elect a leader on a Lease so that only one replica acts',
    default: 'true',
  },
  leaderElectionNamespace: {
    flag: '--leader-election-namespace',
    env: 'POD_NAMESPACE',
    description: 'namespace of the Lease',
    default: 'canaria-system',
  },
  leaderElectionId: {
    flag: '--leader-election-id',
    env: 'CANARIA_LEADER_ELECTION_ID',
    description: 'name of the Lease',
    default: 'canaria-leader',
  },
  identity: {
    flag: '--identity',
    env: 'POD_NAME',
    description: 'this replica in the Lease; the host name by default',
  },
  shardIndex: {
    flag: '--shard-index',
    env: 'CANARIA_SHARD_INDEX',
    description:
      'this Deployment acts only on the releases whose hash of namespace/name modulo --shard-count is this index, from 0',
  },
  shardCount: {
    flag: '--shard-count',
    env: 'CANARIA_SHARD_COUNT',
    description: 'number of hash shards; every shard must be given the same count',
  },
  shardSelector: {
    flag: '--shard-selector',
    env: 'CANARIA_SHARD_SELECTOR',
    description:
      "label selector of the releases this Deployment acts on, e.g. 'team=payments' or 'tier in (a,b)'; with --shard-count, both must match",
  },
  metricsPort: {
    flag: '--metrics-port',
    env: 'CANARIA_METRICS_PORT',
    description: 'port of /metrics, /healthz and /readyz',
    default: '8080',
  },
  concurrency: {
    flag: '--concurrency',
    env: 'CANARIA_CONCURRENCY',
    description: 'releases reconciled at once',
    default: '8',
  },
  resync: {
    flag: '--resync',
    env: 'CANARIA_RESYNC',
    description: 'cron schedule of the periodic resync of every release',
    default: '*/5 * * * *',
  },
  routers: {
    flag: '--routers',
    env: 'CANARIA_ROUTERS',
    description:
      'the traffic routers this controller runs, comma-separated: istio (VirtualService, DestinationRule), gatewayAPI (HTTPRoute, Service); it watches only what they read',
    default: 'istio',
  },
  managedMode: {
    flag: '--managed-mode',
    env: 'CANARIA_MANAGED_MODE',
    description:
      'managed mode (releases with spec.targetRef): watch ConfigMaps and HorizontalPodAutoscalers and write Deployments, autoscalers and ConfigMaps; with false a targetRef is refused and those permissions are not needed',
    default: 'true',
  },
  trackSecrets: {
    flag: '--track-secrets',
    env: 'CANARIA_TRACK_SECRETS',
    description:
      'managed mode: count the content of the Secrets a pod template reads in its revision (needs list/watch on secrets)',
    default: 'false',
  },
  notificationsFile: {
    flag: '--notifications-file',
    env: 'CANARIA_NOTIFICATIONS_FILE',
    description:
      'YAML file of operator-wide notification sinks, {sinks: [{name, type: slack|teams|cloudevents, urlFile, severity, dedupSeconds, rateLimit: {perMinute, burst}, queueSize, attempts, timeoutSeconds}]}; each urlFile is a mounted Secret key',
  },
  releaseNotifications: {
    flag: '--release-notifications',
    env: 'CANARIA_RELEASE_NOTIFICATIONS',
    description:
      "send to the sinks of a release's spec.notifications, reading their URL from a Secret of the release's namespace (needs get on secrets)",
    default: 'true',
  },
  logLevel: {
    flag: '--log-level',
    env: 'LOG_LEVEL',
    description: 'trace, debug, info, warn or error',
    default: 'info',
  },
} satisfies Record<string, Setting>;
export type SettingName = keyof typeof SETTINGS;

export interface ControllerConfig {
  kubeconfig?: string;
  context?: string;
  namespaces: string[];
  /** The metrics backends templates may name; the one named `default` first. */
  metricsProviders: MetricsProviderConfig[];
  leaderElection: { enabled: boolean; namespace: string; name: string; identity: string };
  metricsPort: number;
  concurrency: number;
  resync: string;
  /** The traffic routers enabled; releases naming another are refused with an issue. */
  routers: RouterKey[];
  /** Releases with a targetRef are accepted, and what they need is watched. */
  managedMode: boolean;
  trackSecrets: boolean;
  /** Operator-wide notification sinks. */
  notificationSinks: OperatorSink[];
  /** Whether releases' own sinks are served (the controller then reads their Secrets). */
  releaseNotifications: boolean;
  logLevel: string;
  /** The releases this Deployment acts on; the Lease name carries its id. */
  shard: Shard;
}

type Raw = Partial<Record<SettingName, string | string[] | boolean | undefined>>;

const text = (name: SettingName, raw: Raw, env: NodeJS.ProcessEnv): string | undefined => {
  const value = raw[name];
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.join('\n');
  const fromEnv = env[SETTINGS[name].env];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return (SETTINGS[name] as Setting).default;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid controller configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads the controller's settings from flags (already parsed by commander) and the environment,
 * flags first. Every problem names the flag, the variable, and what is expected; all are reported at
 * once so a broken Deployment is fixed in one edit.
 */
export function loadControllerConfig(raw: Raw, env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const problems: string[] = [];
  const where = (name: SettingName) => `${SETTINGS[name].flag} (or ${SETTINGS[name].env})`;
  const get = (name: SettingName) => text(name, raw, env);
  const duration = (name: SettingName): number => {
    const value = get(name) ?? '';
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0)
      problems.push(`${where(name)}: "${value}" is not a duration such as 10s or 1m`);
    return ms ?? 0;
  };
  const integer = (name: SettingName, min: number, max: number): number => {
    const value = get(name) ?? '';
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${where(name)}: "${value}" must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
  const boolean = (name: SettingName): boolean => {
    const value = (get(name) ?? '').toLowerCase();
    if (!['true', 'false', '1', '0', 'yes', 'no'].includes(value)) {
      problems.push(`${where(name)}: "${value}" must be true or false`);
    }
    return ['true', '1', 'yes'].includes(value);
  };

  const url = get('prometheusUrl') ?? '';
  if (!z.url({ protocol: /^https?$/ }).safeParse(url).success) {
    problems.push(
      `${where('prometheusUrl')}: "${url}" must be an http(s) URL such as http://prometheus.istio-system:9090`,
    );
  }
  const headers: Record<string, string> = {};
  for (const line of (get('prometheusHeaders') ?? '').split('\n').filter((l) => l.trim())) {
    const colon = line.indexOf(':');
    if (colon <= 0) {
      problems.push(
        `${where('prometheusHeaders')}: "${line}" must look like 'Name: value', e.g. 'X-Scope-OrgID: team-a'`,
      );
      continue;
    }
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  const username = get('prometheusUsername');
  const password = get('prometheusPassword');
  if ((username === undefined) !== (password === undefined)) {
    problems.push(
      `${where('prometheusUsername')} and ${where('prometheusPassword')}: set both for basic auth, or neither`,
    );
  }
  const granularity = duration('prometheusWindowGranularity');
  if (granularity % 1000 !== 0) {
    problems.push(`${where('prometheusWindowGranularity')}: must be whole seconds`);
  }
  const resync = get('resync') ?? '';
  if (!validCron(resync))
    problems.push(`${where('resync')}: "${resync}" is not a cron schedule such as */5 * * * *`);
  const logLevel = get('logLevel') ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(logLevel)) {
    problems.push(`${where('logLevel')}: "${logLevel}" must be one of trace, debug, info, warn, error`);
  }

  const prometheus: MetricsProviderSettings = {
    address: url,
    timeoutMs: duration('prometheusTimeout'),
    windowGranularityMs: granularity,
  };
  const tokenFile = get('prometheusBearerTokenFile');
  if (tokenFile) prometheus.bearerTokenFile = tokenFile;
  if (username !== undefined && password !== undefined) prometheus.basicAuth = { username, password };
  if (Object.keys(headers).length) prometheus.headers = headers;
  const caFile = get('prometheusCaFile');
  if (caFile) prometheus.caFile = caFile;

  const metricsProviders: MetricsProviderConfig[] = [
    { name: DEFAULT_METRICS_PROVIDER, type: 'prometheus', settings: prometheus },
  ];
  const providersFile = get('metricsProvidersFile');
  if (providersFile) {
    let content: unknown;
    try {
      content = parseYaml(readFileSync(providersFile, 'utf8')) as unknown;
    } catch (err) {
      problems.push(
        `${where('metricsProvidersFile')}: cannot read ${providersFile}: ${(err as Error).message}`,
      );
    }
    if (content !== undefined) metricsProviders.push(...parseProvidersFile(content, providersFile, problems));
  }

  const notificationSinks: OperatorSink[] = [];
  const notificationsFile = get('notificationsFile');
  if (notificationsFile) {
    let content: unknown;
    try {
      content = parseYaml(readFileSync(notificationsFile, 'utf8')) as unknown;
    } catch (err) {
      problems.push(
        `${where('notificationsFile')}: cannot read ${notificationsFile}: ${(err as Error).message}`,
      );
    }
    if (content !== undefined)
      notificationSinks.push(...parseNotificationsFile(content, notificationsFile, problems));
  }

  // the controller-wide error rules, the default under every release's and metric's own
  const list = (name: SettingName) =>
    (get(name) ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
  const rules = {
    httpCodes: list('errorHttpCodes'),
    responseFlags: list('errorResponseFlags'),
    grpcCodes: list('errorGrpcCodes'),
  };
  const checked = errorRulesSchema.safeParse(rules);
  if (!checked.success) {
    const setting: Record<string, SettingName> = {
      httpCodes: 'errorHttpCodes',
      responseFlags: 'errorResponseFlags',
      grpcCodes: 'errorGrpcCodes',
    };
    for (const issue of checked.error.issues) {
      const [field, index] = issue.path as [string, number];
      const value = (rules as Record<string, string[]>)[field]?.[index] ?? '';
      problems.push(`${where(setting[field] ?? 'errorHttpCodes')}: "${value}" ${issue.message}`);
    }
  }
  const errors: CompleteErrorRules = checked.success
    ? mergeErrorRules(DEFAULT_ERROR_RULES, checked.data)
    : DEFAULT_ERROR_RULES;
  for (const provider of metricsProviders) provider.settings.errors = errors;

  const shard = loadShard(get, where, problems);
  const leaseName = get('leaderElectionId') ?? 'canaria-leader';
  const config: ControllerConfig = {
    namespaces: (get('namespaces') ?? '')
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean),
    metricsProviders,
    leaderElection: {
      enabled: boolean('leaderElect'),
      namespace: get('leaderElectionNamespace') ?? 'canaria-system',
      // per shard, so that shards elect their leaders apart and never wait on one another
      name: shard === UNSHARDED ? leaseName : `${leaseName}-shard-${shard.id}`,
      identity: get('identity') ?? hostname(),
    },
    metricsPort: integer('metricsPort', 0, 65535),
    concurrency: integer('concurrency', 1, 1000),
    resync,
    routers: loadRouters(get('routers') ?? 'istio', where, problems),
    managedMode: boolean('managedMode'),
    trackSecrets: boolean('trackSecrets'),
    notificationSinks,
    releaseNotifications: boolean('releaseNotifications'),
    logLevel,
    shard,
  };
  if (config.trackSecrets && !config.managedMode) {
    problems.push(
      `${where('trackSecrets')}: Secrets count only in managed mode, which ${where('managedMode')} turns off; drop one of the two`,
    );
  }
  // $KUBECONFIG may list several files: the client's default loader reads it, so only the flag counts here
  if (typeof raw.kubeconfig === 'string' && raw.kubeconfig) config.kubeconfig = raw.kubeconfig;
  const context = get('context');
  if (context) config.context = context;
  if (problems.length) throw new ConfigError(problems);
  return config;
}

function loadRouters(list: string, where: (name: SettingName) => string, problems: string[]): RouterKey[] {
  try {
    return parseRouterKeys(list);
  } catch (err) {
    problems.push(`${where('routers')}: ${(err as Error).message}`);
    return [];
  }
}

function loadShard(
  get: (name: SettingName) => string | undefined,
  where: (name: SettingName) => string,
  problems: string[],
): Shard {
  const index = get('shardIndex');
  const count = get('shardCount');
  const selectorText = get('shardSelector');
  const shard: Shard = { id: '' };
  if (index !== undefined || count !== undefined) {
    const i = Number(index);
    const n = Number(count);
    if (count === undefined || !Number.isInteger(n) || n < 1) {
      problems.push(
        `${where('shardCount')}: "${count ?? ''}" must be a whole number of shards, 1 or more, the same on every shard`,
      );
    } else if (index === undefined || !Number.isInteger(i) || i < 0 || i >= n) {
      problems.push(
        `${where('shardIndex')}: "${index ?? ''}" must be a whole number from 0 to ${n - 1} (${where('shardCount')} is ${n})`,
      );
    } else if (n > 1) {
      shard.hash = { index: i, count: n };
    }
  }
  if (selectorText !== undefined) {
    try {
      shard.selector = { text: selectorText, requirements: parseSelector(selectorText) };
    } catch (err) {
      problems.push(`${where('shardSelector')}: ${(err as Error).message}`);
    }
  }
  if (!shard.hash && !shard.selector) return UNSHARDED;
  shard.id = shardId(shard.hash, shard.selector?.text);
  return shard;
}
