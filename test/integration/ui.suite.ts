// Placeholder being replaced by the ui integration tests.
export function uiSuite(): void {}
