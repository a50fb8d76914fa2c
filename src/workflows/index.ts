// The workflow bundle's entry point: every workflow the worker registers. Messages live in src/contract.
export { pinRotation } from './rotation';
export * from './scheduled';
export * from './fleet';
export { rotationTerminated } from './terminated';
