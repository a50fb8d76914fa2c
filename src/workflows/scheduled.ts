// Placeholder being replaced by the scheduled rotation workflow.
export {};
