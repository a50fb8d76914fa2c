// Placeholder being replaced by the fleet workflow.
export {};
