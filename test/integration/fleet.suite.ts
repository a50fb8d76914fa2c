// Placeholder being replaced by the fleet integration tests.
export function fleetSuite(): void {}
