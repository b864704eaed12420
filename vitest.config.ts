import { defineConfig } from 'vitest/config';

// Four suites: pure unit tests; the chart's (helm, the Dockerfile, the dashboards, and the rendered
// manifests on a real kube-apiserver); integration tests against a real Prometheus; e2e tests against
// a real kube-apiserver + etcd + Prometheus. All but the first start real processes, so their files
// run one at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        // The Helm chart and the Dockerfile: helm lint/template, and the rendered manifests on a real
        // kube-apiserver (the controller runs there with exactly the chart's RBAC).
        test: {
          name: 'chart',
          include: ['test/chart/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
