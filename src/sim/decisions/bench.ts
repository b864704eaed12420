/**
 * The decision benchmark: many seeded rollouts per cell (traffic level x what the canary does),
 * canaria's defaults against the Flagger reference, and the targets they must meet.
 */
import type { CanaryReleaseSpec, CanaryReleaseSpecInput } from '../../api/canary-release.js';
import { formatDuration } from '../../api/duration.js';
import {
  describeIssues,
  parseCanaryReleaseSpec,
  parseClusterAnalysisTemplate,
} from '../../api/validation.js';
import type { AnalysisTemplateSpec } from '../../api/analysis-template.js';
import { resolveMetrics } from '../../analysis/resolve.js';
import type { ResolvedMetric } from '../../analysis/types.js';
import { defaultTemplates } from '../cluster.js';
import { createRng } from '../rng.js';
import { FLAGGER_DEFAULTS, runCanaria, runFlagger, type Outcome } from './policies.js';
import { TrafficLedger, type Behaviour, type RevisionPlan } from './traffic.js';

export const RATES = [1, 5, 20, 100] as const;
/** The latency bound of the shipped slow-ratio template and of the reference's p99 check. */
const SLOW_BOUND_MS = 500;
const DAY_MS = 24 * 3_600_000;

const base: Behaviour = { errorRate: 0.002, p50Ms: 50, p99Ms: 200 };

export type ScenarioKind = 'healthy' | 'regression' | 'fault';

export interface Scenario {
  name: string;
  kind: ScenarioKind;
  description: string;
  canary: RevisionPlan;
  stable: RevisionPlan;
  /** The strategy's interval: how long each step's analysis lasts. */
  stepInterval: string;
  /** For faults: when the canary turns bad. */
  faultAtMs?: number;
}

const steady = (b: Behaviour): RevisionPlan => ({ initial: b });
const fault = (name: string, atMinute: number): Scenario => {
  const before: Behaviour = { ...base, errorRate: 0.005 };
  return {
    name,
    kind: 'fault',
    description: `0.5 % errors, 5 % from minute ${atMinute} of a 48-minute step`,
    canary: {
      initial: before,
      changes: [{ atMs: atMinute * 60_000, behaviour: { ...before, errorRate: 0.05 } }],
    },
    stable: steady(before),
    stepInterval: '48m',
    faultAtMs: atMinute * 60_000,
  };
};

export const SCENARIOS: Scenario[] = [
  {
    name: 'healthy 0.2%',
    kind: 'healthy',
    description: 'canary = stable, 0.2 % errors',
    canary: steady(base),
    stable: steady(base),
    stepInterval: '1m',
  },
  {
    name: 'healthy 0.8%',
    kind: 'healthy',
    description: 'canary = stable, 0.8 % errors',
    canary: steady({ ...base, errorRate: 0.008 }),
    stable: steady({ ...base, errorRate: 0.008 }),
    stepInterval: '1m',
  },
  {
    name: '5x errors',
    kind: 'regression',
    description: 'errors 0.2 % -> 1 %',
    canary: steady({ ...base, errorRate: 0.01 }),
    stable: steady(base),
    stepInterval: '1m',
  },
  {
    name: '25x errors',
    kind: 'regression',
    description: 'errors 0.2 % -> 5 %',
    canary: steady({ ...base, errorRate: 0.05 }),
    stable: steady(base),
    stepInterval: '1m',
  },
  {
    name: 'latency 3x',
    kind: 'regression',
    description: 'p99 200 ms -> 600 ms',
    canary: steady({ ...base, p50Ms: 150, p99Ms: 600 }),
    stable: steady(base),
    stepInterval: '1m',
  },
  fault('late fault', 45),
  fault('early fault', 1),
];

/**
 * The benchmark's release: what a new user writes, with every other field at canaria's defaults. The
 * two shipped count templates, so that the latency cell has something to catch a latency with.
 */
export function benchRelease(stepInterval: string): CanaryReleaseSpec {
  const input: CanaryReleaseSpecInput = {
    subsets: {},
    trafficRouting: {
      istio: {
        virtualService: { name: 'app' },
        destinationRule: { name: 'app' },
        stableSubset: 'stable',
        canarySubset: 'canary',
      },
    },
    strategy: { stepWeight: 10, maxWeight: 50, interval: stepInterval },
    analysis: {
      templates: [
        { name: 'error-ratio', kind: 'ClusterAnalysisTemplate' },
        { name: 'slow-ratio', kind: 'ClusterAnalysisTemplate' },
      ],
    },
  };
  const parsed = parseCanaryReleaseSpec(input);
  if (!parsed.ok) throw new Error(`the benchmark's release is invalid: ${describeIssues(parsed.issues)}`);
  return parsed.value;
}

export function benchMetrics(spec: CanaryReleaseSpec): ResolvedMetric[] {
  const cluster = new Map<string, AnalysisTemplateSpec>();
  for (const object of defaultTemplates()) {
    const parsed = parseClusterAnalysisTemplate(object);
    if (parsed.ok) cluster.set(parsed.value.metadata.name, parsed.value.spec);
  }
  const { metrics, issues } = resolveMetrics(spec.analysis, { namespaced: new Map(), cluster });
  if (issues.length) throw new Error(`the default templates do not resolve: ${describeIssues(issues)}`);
  return metrics;
}

/** A stable seed per cell and run, so the same command prints the same table. */
function seedOf(cell: string, run: number): number {
  let h = 2166136261;
  for (const ch of cell) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return (h + run * 0x9e3779b1) >>> 0;
}

export interface Tally {
  runs: number;
  promoted: number;
  rolledBack: number;
  unfinished: number;
  /** Times (ms) of each outcome, from the rollout's start. */
  promoteMs: number[];
  rollbackMs: number[];
}

export interface CellResult {
  scenario: Scenario;
  rps: number;
  canaria: Tally;
  /** Undefined where the reference has no counterpart (the 48-minute steps). */
  flagger?: Tally;
}

const emptyTally = (): Tally => ({
  runs: 0,
  promoted: 0,
  rolledBack: 0,
  unfinished: 0,
  promoteMs: [],
  rollbackMs: [],
});

function count(t: Tally, o: Outcome): void {
  t.runs++;
  if (o.result === 'promoted') {
    t.promoted++;
    t.promoteMs.push(o.atMs);
  } else if (o.result === 'rolledBack') {
    t.rolledBack++;
    t.rollbackMs.push(o.atMs);
  } else {
    t.unfinished++;
  }
}

export function runCell(scenario: Scenario, rps: number, runs: number): CellResult {
  const spec = benchRelease(scenario.stepInterval);
  const metrics = benchMetrics(spec);
  const canaria = emptyTally();
  const withReference = scenario.stepInterval === '1m';
  const flagger = withReference ? emptyTally() : undefined;
  const plans = { canary: scenario.canary, stable: scenario.stable };
  for (let run = 0; run < runs; run++) {
    const cell = `${scenario.name}@${rps}`;
    const ledger = new TrafficLedger(createRng(seedOf(cell, run)), rps, plans, SLOW_BOUND_MS, false);
    count(canaria, runCanaria(spec, metrics, ledger, DAY_MS));
    if (flagger) {
      const ref = new TrafficLedger(
        createRng(seedOf(`flagger ${cell}`, run)),
        rps,
        plans,
        SLOW_BOUND_MS,
        true,
      );
      count(flagger, runFlagger(FLAGGER_DEFAULTS, ref, DAY_MS));
    }
  }
  return { scenario, rps, canaria, ...(flagger ? { flagger } : {}) };
}

export function median(values: readonly number[]): number | undefined {
  if (!values.length) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const percent = (n: number, of: number) => `${((100 * n) / Math.max(1, of)).toFixed(1)} %`;
const time = (ms: number | undefined) => (ms === undefined ? '-' : formatDuration(ms));

/** The share that went the wrong way: healthy ones rolled back, bad ones promoted. */
export function wrong(cell: CellResult, t: Tally): number {
  return cell.scenario.kind === 'healthy' ? t.rolledBack / t.runs : t.promoted / t.runs;
}

export interface Check {
  target: string;
  ok: boolean;
  detail: string;
}

/** The issue's targets, checked on the results. */
export function checkTargets(cells: readonly CellResult[]): Check[] {
  const checks: Check[] = [];
  const find = (name: string, rps: number) => cells.find((c) => c.scenario.name === name && c.rps === rps);
  for (const c of cells.filter((c) => c.scenario.kind === 'healthy')) {
    const share = c.canaria.rolledBack / c.canaria.runs;
    checks.push({
      target: `healthy canary rolled back <= 1 % (${c.scenario.name}, ${c.rps} rps)`,
      ok: share <= 0.01,
      detail: percent(c.canaria.rolledBack, c.canaria.runs),
    });
  }
  for (const rps of RATES.filter((r) => r >= 5)) {
    const c = find('5x errors', rps);
    if (!c) continue;
    checks.push({
      target: `5x regression promoted <= 5 % (${rps} rps)`,
      ok: c.canaria.promoted / c.canaria.runs <= 0.05,
      detail: percent(c.canaria.promoted, c.canaria.runs),
    });
  }
  const big = find('25x errors', 20);
  if (big) {
    const m = median(big.canaria.rollbackMs);
    checks.push({
      target: '25x regression: median time to roll back <= 120 s (20 rps)',
      ok: m !== undefined && m <= 120_000,
      detail: time(m),
    });
  }
  for (const name of ['healthy 0.2%', 'healthy 0.8%']) {
    const c = find(name, 20);
    const ours = c && median(c.canaria.promoteMs);
    const theirs = c?.flagger && median(c.flagger.promoteMs);
    if (!c) continue;
    checks.push({
      target: `healthy canary: median time to promote <= 2x the reference's (${name}, 20 rps)`,
      ok: ours !== undefined && theirs !== undefined && ours <= 2 * theirs,
      detail: `${time(ours)} vs ${time(theirs)}`,
    });
  }
  for (const rps of RATES) {
    const late = find('late fault', rps);
    const early = find('early fault', rps);
    if (!late || !early) continue;
    const delay = (c: CellResult) => median(c.canaria.rollbackMs.map((t) => t - (c.scenario.faultAtMs ?? 0)));
    const l = delay(late);
    const e = delay(early);
    checks.push({
      target: `late fault rolled back within 1.5x the early one's delay (${rps} rps)`,
      ok: l !== undefined && e !== undefined && l <= 1.5 * e,
      detail: `${time(l)} vs ${time(e)}`,
    });
  }
  return checks;
}

/** The table of the README: one row per cell, canaria beside the reference. */
export function formatTable(cells: readonly CellResult[]): string {
  const rows = [
    '| canary | rps | runs | canaria wrong | rolled back / promoted / unfinished | median to roll back | median to promote | reference wrong | median to roll back | median to promote |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const c of cells) {
    const t = c.canaria;
    const f = c.flagger;
    const faultShift = c.scenario.faultAtMs ?? 0;
    const rollback = c.scenario.kind === 'fault' ? t.rollbackMs.map((x) => x - faultShift) : t.rollbackMs;
    rows.push(
      [
        c.scenario.description,
        c.rps,
        t.runs,
        percent(wrong(c, t) * t.runs, t.runs),
        `${t.rolledBack} / ${t.promoted} / ${t.unfinished}`,
        `${time(median(rollback))}${c.scenario.kind === 'fault' ? ' after the fault' : ''}`,
        time(median(t.promoteMs)),
        f ? percent(wrong(c, f) * f.runs, f.runs) : 'n/a',
        f ? time(median(f.rollbackMs)) : 'n/a',
        f ? time(median(f.promoteMs)) : 'n/a',
      ]
        .map(String)
        .join(' | ')
        .replace(/^/, '| ')
        .concat(' |'),
    );
  }
  return rows.join('\n');
}
