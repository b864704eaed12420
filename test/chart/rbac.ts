/**
 * RBAC rules as data: which of the chart's rule files grant an access, the same files with one verb
 * taken away, and whether rendered roles and bindings allow an access (for the plain rules the chart
 * uses: no wildcards, no resource names, no aggregation).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { Access } from '../harness/access.js';
import type { Manifest } from '../harness/helm.js';
import type { ServiceAccountRef } from '../harness/kube-env.js';

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export const RULE_FILES = [
  'rbac-rules.yaml',
  'rbac-istio-rules.yaml',
  'rbac-gateway-api-rules.yaml',
  'rbac-managed-rules.yaml',
  'rbac-istio-managed-rules.yaml',
  'rbac-gateway-api-managed-rules.yaml',
  'rbac-cluster-rules.yaml',
  'rbac-secrets-rules.yaml',
  'leader-election-rules.yaml',
];

const resourceOf = (access: Access): string =>
  access.subresource === undefined ? access.resource : `${access.resource}/${access.subresource}`;

export const ruleGrants = (rule: Rule, access: Access): boolean =>
  rule.apiGroups.includes(access.group) &&
  rule.resources.includes(resourceOf(access)) &&
  rule.verbs.includes(access.verb);

export function readRules(chartDir: string, file: string): Rule[] {
  return parse(readFileSync(join(chartDir, 'files', file), 'utf8')) as Rule[];
}

/**
 * Takes `access.verb` away from every rule of the chart's files that grants the access; returns the
 * files it changed.
 */
export function removeGrant(chartDir: string, access: Access): string[] {
  const changed: string[] = [];
  for (const file of RULE_FILES) {
    const rules = readRules(chartDir, file);
    if (!rules.some((rule) => ruleGrants(rule, access))) continue;
    const kept = rules
      .map((rule) =>
        ruleGrants(rule, access) ? { ...rule, verbs: rule.verbs.filter((v) => v !== access.verb) } : rule,
      )
      .filter((rule) => rule.verbs.length > 0);
    writeFileSync(join(chartDir, 'files', file), stringify(kept));
    changed.push(file);
  }
  return changed;
}

/** Whether the rendered roles, through the rendered bindings, allow the ServiceAccount this access. */
export function renderedAllows(manifests: Manifest[], account: ServiceAccountRef, access: Access): boolean {
  const boundTo = (binding: Manifest): boolean =>
    ((binding.subjects as { kind: string; name: string; namespace?: string }[] | undefined) ?? []).some(
      (s) => s.kind === 'ServiceAccount' && s.name === account.name && s.namespace === account.namespace,
    );
  const roleRules = (kind: string, name: string, namespace?: string): Rule[] =>
    manifests
      .filter((m) => m.kind === kind && m.metadata.name === name && m.metadata.namespace === namespace)
      .flatMap((m) => (m.rules as Rule[] | undefined) ?? []);
  const granted = manifests.flatMap((binding) => {
    if (!boundTo(binding)) return [];
    const ref = binding.roleRef as { kind: string; name: string };
    if (binding.kind === 'ClusterRoleBinding') return roleRules('ClusterRole', ref.name);
    if (binding.kind !== 'RoleBinding' || binding.metadata.namespace !== access.namespace) return [];
    return ref.kind === 'ClusterRole'
      ? roleRules('ClusterRole', ref.name)
      : roleRules('Role', ref.name, binding.metadata.namespace);
  });
  return granted.some((rule) => ruleGrants(rule, access));
}
