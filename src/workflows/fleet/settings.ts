import { ApplicationFailure, patched } from '@temporalio/workflow';
import {
  CERT_SOURCE_PATTERN,
  CLIENT_ID_PATTERN,
  CLIENT_ID_RULE,
  DEFAULT_CONTINUE_AS_NEW_EVERY,
  DEFAULT_FLEET_OVERLAP,
  DEFAULT_MAX_FAILURES,
  DEFAULT_PAGE_SIZE,
  Failure,
  MAX_CONCURRENCY,
  type FleetClient,
  type FleetInput,
} from '../../contract';
import { parseDuration } from '../../pins/duration';

export interface Settings {
  clients: FleetClient[];
  all: boolean;
  idPrefix: string;
  certSource: string;
  concurrency: number;
  overlap: string;
  pageSize: number;
  continueAsNewEvery: number;
  maxFailures: number;
}

function invalid(problems: string[]): ApplicationFailure {
  return ApplicationFailure.create({ message: `invalid fleet input: ${problems.join('; ')}`, type: Failure.InvalidFleetInput, nonRetryable: true });
}

export function validate(raw: FleetInput): Settings {
  const input = (raw ?? {}) as FleetInput;
  const problems: string[] = [];
  const intIn = (v: unknown, name: string, min: number, max: number, fallback?: number): number => {
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) problems.push(`${name} must be an integer between ${min} and ${max}`);
    return typeof v === 'number' ? v : (fallback ?? min);
  };
  const concurrency = intIn(input.concurrency, 'concurrency', 1, MAX_CONCURRENCY);
  const pageSize = intIn(input.pageSize, 'pageSize', 1, 500, DEFAULT_PAGE_SIZE);
  const continueAsNewEvery = intIn(input.continueAsNewEvery, 'continueAsNewEvery', 1, 10_000, DEFAULT_CONTINUE_AS_NEW_EVERY);
  const maxFailures = intIn(input.maxFailures, 'maxFailures', 0, 10_000, DEFAULT_MAX_FAILURES);
  const all = input.all === true;
  if (input.clients !== undefined && !Array.isArray(input.clients)) problems.push('clients must be an array of {clientId, certSource?}');
  const clients = Array.isArray(input.clients) ? input.clients : [];
  // On a fresh start `clients` and `all` exclude each other; a continued `all` run carries its listed-but-unstarted clients.
  if (all && clients.length > 0 && !input.carry) problems.push('give either clients or all, not both');
  if (!all && input.clients === undefined) problems.push('give clients (a list) or all: true');
  const bad = clients.filter((c) => typeof c?.clientId !== 'string' || !CLIENT_ID_PATTERN.test(c.clientId));
  if (bad.length > 0) problems.push(`${bad.length} client id(s) are not ${CLIENT_ID_RULE}, e.g. ${JSON.stringify(bad[0]?.clientId ?? bad[0]).slice(0, 80)}`);
  const sources = [input.certSource, ...clients.map((c) => c?.certSource)].filter((s) => s !== undefined);
  if (sources.some((s) => typeof s !== 'string' || !CERT_SOURCE_PATTERN.test(s))) problems.push('certSource must be file:PATH, https://URL or emulator-ca');
  // No default source: where certificates come from is the operator's decision, never a demo CA by accident.
  const needsSource = input.certSource === undefined && (all || clients.some((c) => c?.certSource === undefined));
  // Runs recorded before explicit-cert-source-v1 defaulted to the demo CA; they replay with that default.
  const legacyDefault = needsSource && !patched('explicit-cert-source-v1');
  if (needsSource && !legacyDefault) problems.push('certSource is required (for the fleet, or for every listed client)');
  const overlap = input.overlap ?? DEFAULT_FLEET_OVERLAP;
  try {
    parseDuration(overlap);
  } catch {
    problems.push(`overlap must be a duration like "7d" or "0s" (got ${JSON.stringify(input.overlap)})`);
  }
  try {
    activityRetry(input.retry);
  } catch {
    problems.push('retry.initialInterval and retry.maximumInterval must be durations like "1s"');
  }
  const attempts = input.retry?.maximumAttempts;
  if (attempts !== undefined && (!Number.isInteger(attempts) || attempts < 1)) problems.push('retry.maximumAttempts must be a positive integer');
  if (input.idPrefix !== undefined && typeof input.idPrefix !== 'string') problems.push('idPrefix must be a string');
  if (problems.length > 0) throw invalid(problems);
  return {
    clients,
    all,
    idPrefix: input.idPrefix ?? '',
    certSource: input.certSource ?? (legacyDefault ? 'emulator-ca' : ''),
    concurrency,
    overlap,
    pageSize,
    continueAsNewEvery,
    maxFailures,
  };
}

/** The same retry tuning the children get (tests keep it tiny); checked by `validate`. */
export function activityRetry(retry: FleetInput['retry']) {
  return {
    initialInterval: Math.max(1, parseDuration(retry?.initialInterval ?? '1s')),
    maximumInterval: Math.max(1, parseDuration(retry?.maximumInterval ?? '60s')),
    backoffCoefficient: 2,
    maximumAttempts: retry?.maximumAttempts ?? 12,
  };
}

