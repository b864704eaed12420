import { API_GROUP } from '../api/meta.js';
import type { Notification, Notifier, Rendered } from './types.js';

/** CloudEvent types are reverse-DNS: `dev.canaria.release.rolledback`, `.promoted`, ... */
export const CLOUDEVENT_TYPE_PREFIX = 'dev.canaria.release.';

/**
 * A CloudEvents 1.0 event in structured mode (the whole event is the JSON body, content type
 * `application/cloudevents+json`), which any receiver can read without knowing the binary-mode
 * headers. `source` names the release as a Kubernetes path; `subject` is `namespace/name`.
 */
export function cloudEvent(n: Notification): Record<string, unknown> {
  const { namespace, name } = n.release;
  return {
    specversion: '1.0',
    id: n.id,
    source: `/apis/${API_GROUP}/namespaces/${namespace}/canaryreleases/${name}`,
    type: `${CLOUDEVENT_TYPE_PREFIX}${n.kind}`,
    subject: `${namespace}/${name}`,
    time: n.time,
    datacontenttype: 'application/json',
    data: {
      severity: n.severity,
      release: n.release,
      action: n.action,
      reason: n.reason,
      title: n.title,
      message: n.message,
      ...(n.rule ? { rule: n.rule } : {}),
      ...(n.phase ? { phase: n.phase } : {}),
      step: n.step,
      canaryWeight: n.canaryWeight,
      ...(n.previousWeight !== undefined ? { previousWeight: n.previousWeight } : {}),
      ...(n.canaryRevision ? { canaryRevision: n.canaryRevision } : {}),
      ...(n.stableRevision ? { stableRevision: n.stableRevision } : {}),
      ...(n.count !== undefined ? { count: n.count } : {}),
      metrics: n.metrics,
      commands: n.commands,
    },
  };
}

export const cloudEventsNotifier: Notifier = {
  type: 'cloudevents',
  render(n: Notification): Rendered {
    return {
      body: cloudEvent(n),
      headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
    };
  },
};
