// The workflow bundle's entry point: every workflow the worker registers.
export { pinRotation, approveSignal, certificateIssuedSignal, certificateIssuedUpdate, finalizeNowSignal, rollbackSignal, statusQuery } from './rotation';
export * from './scheduled';
export * from './fleet';
