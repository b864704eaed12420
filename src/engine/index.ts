// The engine's one door: the controller, the simulator and the CLI use what is exported here, and a
// lint rule keeps them from reaching past it, so the engine's files can be rearranged freely.
export { analysisWindow, decide, describeStep, rejectSpec } from './decide.js';
export { StatusDraft } from './draft.js';
export { decideDeletion } from './managed.js';
export { describeCall, gateRecheckMs, hooksDue, type DueHook } from './hooks.js';
export { expandSteps, stepPosition, unitsToPercent } from './steps.js';
export type { Action, Decision, ManagedObservations, ObservedRouting, Observations } from './types.js';
