import { formatPath } from '../api/validation.js';

/*
 * What `canaria lint` reports, shared by the routers' lint checks (istio/lint.ts, gateway-api/lint.ts):
 * a finding names the file (and line), the resource, the YAML path and the fix.
 */

export type PathSegments = readonly (string | number)[];

export interface LintInput {
  file: string;
  doc: unknown;
  /** The line of a YAML path in the file, when the caller parsed the text itself. */
  line?: (path: PathSegments) => number | undefined;
  /**
   * Shipped with canaria (the default ClusterAnalysisTemplates the chart installs): references to it
   * resolve, but it is not itself reported on.
   */
  bundled?: boolean;
}

export interface LintFinding {
  /** `info`: what lint could not check from the files it was given. */
  severity: 'error' | 'warning' | 'info';
  file: string;
  line?: number;
  /** `VirtualService test1/demo4-vs` */
  resource: string;
  /** `spec.http[0].route[0].destination.weight` */
  path: string;
  message: string;
  /** What to change; absent where the message says all there is. */
  fix?: string;
}

export type Report = (
  severity: LintFinding['severity'],
  path: PathSegments,
  message: string,
  fix?: string,
) => void;

export function reporter(findings: LintFinding[], input: LintInput, label: string): Report {
  return (severity, path, message, fix) => {
    if (input.bundled) return;
    const finding: LintFinding = {
      severity,
      file: input.file,
      resource: label,
      path: formatPath(path),
      message,
    };
    if (fix !== undefined) finding.fix = fix;
    const line = input.line?.(path);
    if (line !== undefined) finding.line = line;
    findings.push(finding);
  };
}

export function kindOf(doc: unknown): string | undefined {
  const kind: unknown = (doc as { kind?: unknown } | null)?.kind;
  return typeof kind === 'string' ? kind : undefined;
}

/** `CanaryRelease shop/reviews` from the document as written, valid or not. */
export function rawLabel(kind: string, doc: unknown): string {
  const metadata = (doc as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  const name = typeof metadata?.name === 'string' && metadata.name ? metadata.name : '(unnamed)';
  const namespace =
    typeof metadata?.namespace === 'string' && metadata.namespace ? metadata.namespace : 'default';
  return `${kind} ${namespace}/${name}`;
}
