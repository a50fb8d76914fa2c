import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Typed search attributes the rotation keeps current, so operators find rotations in the Temporal UI
 * (`ClientId = "x"`, `RotationStatus = "rolled_back"`). Registered on the dev server by `pinrotate dev` and the
 * tests (`SEARCH_ATTRIBUTES`); on a cluster, register them once (README "Running on a cluster").
 */
export const ClientIdKey = defineSearchAttributeKey('ClientId', SearchAttributeType.KEYWORD);
export const ServiceIdKey = defineSearchAttributeKey('ServiceId', SearchAttributeType.KEYWORD);
export const RotationStatusKey = defineSearchAttributeKey('RotationStatus', SearchAttributeType.KEYWORD);
/** Set by the server on runs a Schedule starts: the schedule's id. */
export const ScheduledByIdKey = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);

/** The custom ones, by name and the type the dev server's `--search-attribute` flag takes. */
export const SEARCH_ATTRIBUTES: Readonly<Record<string, 'Keyword'>> = Object.fromEntries(
  [ClientIdKey, ServiceIdKey, RotationStatusKey].map((k) => [k.name, 'Keyword' as const]),
);
