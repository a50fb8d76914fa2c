import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Typed search attributes the rotation keeps current, so operators can find rotations in the Temporal UI
 * (`ClientId = "x"`, `RotationStatus = "rolled_back"`). Registered on the dev server by `pinrotate dev` and the
 * tests; on a cluster, register them once (README "Running on a cluster").
 */
export const ClientIdKey = defineSearchAttributeKey('ClientId', SearchAttributeType.KEYWORD);
export const ServiceIdKey = defineSearchAttributeKey('ServiceId', SearchAttributeType.KEYWORD);
export const RotationStatusKey = defineSearchAttributeKey('RotationStatus', SearchAttributeType.KEYWORD);
