// The contract between workflows, activities and clients: pure, safe in the workflow bundle.
export * from './ids';
export * from './failures';
export * from './search-attributes';
export * from './messages';
export * from './rotation';
export * from './fleet';
export * from './schedule';
export * from './chain';
export * from './summary';
export * from './approval';
