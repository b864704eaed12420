/** Managed mode: the name of the stable copy canaria keeps of the user's Deployment, as users see it. */
export const primaryName = (target: string): string => `${target}-primary`;
