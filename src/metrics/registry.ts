import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_METRICS_PROVIDER, PROVIDER_TYPES, type ProviderType } from '../api/analysis-template.js';
import { duration, parseDuration } from '../api/duration.js';
import type { Measurement, ResolvedMetric } from '../analysis/types.js';
import { PrometheusClient, type PrometheusConnection } from './prometheus-client.js';
import { PrometheusProvider, type PrometheusProviderOptions } from './prometheus-provider.js';
import type { MeasurementRequest, Measurements, MetricsProvider } from './provider.js';

/** How the controller reaches one metrics backend: connection, auth and query tuning. */
export type MetricsProviderSettings = PrometheusConnection & PrometheusProviderOptions;

/** One backend the operator configured: templates and releases refer to it by `name`. */
export interface MetricsProviderConfig {
  name: string;
  type: ProviderType;
  settings: MetricsProviderSettings;
}

/**
 * A Prometheus-compatible backend (Prometheus, Thanos, Mimir, Cortex) as the operator writes it in the
 * providers file. Secrets are files (mounted Secrets), never values in the file itself.
 */
const prometheusFileSettings = z.strictObject({
  address: z.url({
    protocol: /^https?$/,
    error: 'must be an http(s) URL such as http://thanos-query.monitoring:9090',
  }),
  /** Budget of one call, retries included. */
  timeout: duration.optional(),
  retries: z.int().min(0).max(10, { error: 'must be a whole number from 0 to 10' }).optional(),
  /** Analysis windows are rounded down to this; keep it at most the shortest analysis interval. */
  windowGranularity: duration.optional(),
  maxConcurrentQueries: z.int().min(1).max(64, { error: 'must be a whole number from 1 to 64' }).optional(),
  /** A file with a bearer token, re-read when it rotates. */
  bearerTokenFile: z.string().min(1).optional(),
  /** Basic auth from two files (a mounted Secret's keys), read at start. */
  basicAuth: z.strictObject({ usernameFile: z.string().min(1), passwordFile: z.string().min(1) }).optional(),
  /** Sent with every request, e.g. `X-Scope-OrgID: team-a` for a Mimir, Cortex or Thanos tenant. */
  headers: z.record(z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/), z.string()).optional(),
  /** PEM file of the CA that signed the backend's certificate. */
  caFile: z.string().min(1).optional(),
});

type Problems = string[];

/**
 * One entry per provider type: the settings the operator may write for it, and how to build it. The
 * schema's PROVIDER_TYPES keeps this list complete.
 */
export interface MetricsProviderType {
  /** Reads one entry of the providers file; problems name the field. */
  settings(raw: unknown, where: string, problems: Problems): MetricsProviderSettings | undefined;
  create(settings: MetricsProviderSettings): MetricsProvider;
}

export const METRICS_PROVIDERS: Record<ProviderType, MetricsProviderType> = {
  prometheus: {
    settings(raw, where, problems) {
      const parsed = prometheusFileSettings.safeParse(raw);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          const field = issue.path.join('.');
          const message =
            issue.code === 'unrecognized_keys'
              ? `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}; known fields: ${Object.keys(prometheusFileSettings.shape).join(', ')}, and name, type`
              : issue.message;
          problems.push(`${where}${field ? `.${field}` : ''}: ${message}`);
        }
        return undefined;
      }
      const file = parsed.data;
      const settings: MetricsProviderSettings = { address: file.address };
      const ms = (value: string | undefined) => (value === undefined ? undefined : parseDuration(value));
      const timeoutMs = ms(file.timeout);
      if (timeoutMs !== undefined) settings.timeoutMs = timeoutMs;
      const granularity = ms(file.windowGranularity);
      if (granularity !== undefined) {
        if (granularity % 1000 !== 0 || granularity < 1000) {
          problems.push(`${where}.windowGranularity: must be whole seconds`);
        }
        settings.windowGranularityMs = granularity;
      }
      if (file.retries !== undefined) settings.retries = file.retries;
      if (file.maxConcurrentQueries !== undefined) settings.maxConcurrentQueries = file.maxConcurrentQueries;
      if (file.bearerTokenFile) settings.bearerTokenFile = file.bearerTokenFile;
      if (file.headers) settings.headers = file.headers;
      if (file.caFile) settings.caFile = file.caFile;
      if (file.basicAuth) {
        const read = (path: string, field: string) => {
          try {
            return readFileSync(path, 'utf8').trim();
          } catch (err) {
            problems.push(`${where}.basicAuth.${field}: cannot read ${path}: ${(err as Error).message}`);
            return '';
          }
        };
        settings.basicAuth = {
          username: read(file.basicAuth.usernameFile, 'usernameFile'),
          password: read(file.basicAuth.passwordFile, 'passwordFile'),
        };
      }
      return settings;
    },
    create: (settings) => new PrometheusProvider(new PrometheusClient(settings), settings),
  },
};

const providerEntry = z.looseObject({
  name: z
    .string({ error: 'name is required' })
    .max(63, { error: 'must be at most 63 characters' })
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
      error: 'must be lowercase letters, digits and dashes, e.g. thanos',
    }),
  type: z
    .enum(PROVIDER_TYPES, { error: `must be one of: ${PROVIDER_TYPES.join(', ')}` })
    .default('prometheus'),
});
const providersFile = z.strictObject({ providers: z.array(z.unknown()) });

/**
 * The named providers of a providers file (YAML or JSON, already parsed): `{providers: [{name, type,
 * address, ...}]}`. The name `default` is taken by the --prometheus-* flags.
 */
export function parseProvidersFile(
  content: unknown,
  file: string,
  problems: Problems,
): MetricsProviderConfig[] {
  const parsed = providersFile.safeParse(content);
  if (!parsed.success) {
    problems.push(
      `${file}: must be a mapping with a list "providers", e.g. providers: [{name: thanos, address: http://thanos:9090}]`,
    );
    return [];
  }
  const out: MetricsProviderConfig[] = [];
  parsed.data.providers.forEach((raw, i) => {
    const where = `${file}: providers[${i}]`;
    const entry = providerEntry.safeParse(raw);
    if (!entry.success) {
      for (const issue of entry.error.issues)
        problems.push(`${where}.${issue.path.join('.')}: ${issue.message}`);
      return;
    }
    const { name, type, ...rest } = entry.data;
    if (name === DEFAULT_METRICS_PROVIDER) {
      problems.push(
        `${where}.name: "${DEFAULT_METRICS_PROVIDER}" is the provider of the --prometheus-* flags; pick another name`,
      );
      return;
    }
    if (out.some((p) => p.name === name)) {
      problems.push(`${where}.name: "${name}" is configured twice; provider names must be unique`);
      return;
    }
    const settings = METRICS_PROVIDERS[type].settings(rest, where, problems);
    if (settings) out.push({ name, type, settings });
  });
  return out;
}

/** Metrics of a release that name a provider the controller does not have: measured nowhere. */
function unknownProvider(name: string, known: readonly string[]): Measurement {
  return {
    kind: 'error',
    error: {
      code: 'BadQuery',
      message: `no metrics provider named "${name}" is configured (known: ${known.join(', ')}); nothing was sent`,
      retryable: false,
    },
  };
}

/**
 * The provider the controller uses. A metric goes to the backend its `provider.name` names, or to
 * `default`; each backend is built once from the operator's settings, with its own address and its own
 * credentials, and gets one batched call per tick. A name the operator did not configure is measured
 * nowhere: no address, and no credentials, ever come from a user's object.
 */
export class MetricsRouter implements MetricsProvider {
  private readonly configs: ReadonlyMap<string, MetricsProviderConfig>;
  private readonly providers = new Map<string, MetricsProvider>();

  constructor(
    configs: readonly MetricsProviderConfig[],
    private readonly types: Record<ProviderType, Pick<MetricsProviderType, 'create'>> = METRICS_PROVIDERS,
  ) {
    this.configs = new Map(configs.map((c) => [c.name, c]));
  }

  /** The names templates and releases may use. */
  names(): string[] {
    return [...this.configs.keys()];
  }

  async measure(requests: readonly MeasurementRequest[], signal?: AbortSignal): Promise<Measurements> {
    const byBackend = new Map<string, MeasurementRequest[]>();
    const merged: Measurements = new Map();
    const put = (release: string, metric: string, measurement: Measurement) => {
      const into = merged.get(release) ?? new Map<string, Measurement>();
      into.set(metric, measurement);
      merged.set(release, into);
    };
    for (const request of requests) {
      const split = new Map<string, ResolvedMetric[]>();
      for (const metric of request.metrics) {
        const name = metric.provider?.name ?? DEFAULT_METRICS_PROVIDER;
        if (!this.configs.has(name)) {
          put(request.key, metric.name, unknownProvider(name, this.names()));
          continue;
        }
        split.set(name, [...(split.get(name) ?? []), metric]);
      }
      for (const [name, metrics] of split) {
        byBackend.set(name, [...(byBackend.get(name) ?? []), { ...request, metrics }]);
      }
    }
    const answers = await Promise.all(
      [...byBackend].map(([name, batch]) => this.provider(name).measure(batch, signal)),
    );
    for (const answer of answers) {
      for (const [release, byMetric] of answer) {
        for (const [metric, measurement] of byMetric) put(release, metric, measurement);
      }
    }
    return merged;
  }

  private provider(name: string): MetricsProvider {
    let provider = this.providers.get(name);
    if (!provider) {
      const config = this.configs.get(name);
      if (!config) throw new Error(`no metrics provider ${name}`); // measure() filtered these out
      provider = this.types[config.type].create(config.settings);
      this.providers.set(name, provider);
    }
    return provider;
  }
}
