export { startEmulator, type EmulatorHandle, type EmulatorOptions } from './server';
export { EmulatorAdmin, EmulatorAdminError } from './admin-client';
export { EmulatorCa, CA_COMMON_NAME, KEY_TYPES } from './ca';
export { DETAIL_CODES, type DetailCode } from './validation';
export type * from './types';
