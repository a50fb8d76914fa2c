// Placeholder being replaced by the schedule integration tests.
export function scheduleSuite(): void {}
