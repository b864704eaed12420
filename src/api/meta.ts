import { z } from 'zod';
import { LIMITS } from './limits.js';

export const API_GROUP = 'canaria.dev';
export const API_VERSION_NAME = 'v1alpha1';
export const API_VERSION = `${API_GROUP}/${API_VERSION_NAME}`;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export const k8sName = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .min(1, { error: `${what} must not be empty` })
    .max(LIMITS.name, { error: `${what} must be at most ${LIMITS.name} characters` })
    .regex(DNS_SUBDOMAIN, {
      error: `${what} must be a Kubernetes name: lowercase letters, digits, '-' and '.'`,
    });

/** The parts of ObjectMeta canaria reads; the API server owns the rest, so it passes through. */
export const objectMeta = z.looseObject({
  name: k8sName('metadata.name'),
  namespace: z.string().optional(),
  generation: z.number().optional(),
  resourceVersion: z.string().optional(),
  uid: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ObjectMeta = z.infer<typeof objectMeta>;
