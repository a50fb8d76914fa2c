import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

/** The workflows the worker runs: everything src/workflows/index exports. */
export const WORKFLOWS_PATH = require.resolve('./workflows');

/**
 * Modules evaluated once per workflow thread instead of once per run. The SDK's reusable context evaluates a
 * workflow's modules afresh for every run unless they are preloaded, and the SDK deep-freezes what it preloads:
 * only modules without state of their own belong here. The contract (message definitions, ids, search
 * attribute keys, codes) and the pin plan are plain functions and constants. Workflow modules are not: a run's
 * state lives in them, and they must never be shared between runs.
 */
export const PRELOADED_MODULES: readonly string[] = [
  require.resolve('./contract'),
  require.resolve('./pins/types'),
  require.resolve('./pins/plan'),
  require.resolve('./pins/duration'),
  require.resolve('./pins/certificates-only'),
];

/** The options every bundle of the workflows is built with: the worker's, the tests', the bench's. */
export const workflowBundlerOptions = { preloadModules: [...PRELOADED_MODULES] };

/** One bundle of the workflows, as the worker builds it (tests and the bench build theirs here). */
export function bundleWorkflows(logger?: Parameters<typeof bundleWorkflowCode>[0]['logger']): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, ...workflowBundlerOptions, logger });
}
