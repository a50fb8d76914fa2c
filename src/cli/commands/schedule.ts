// Placeholder being replaced by the schedule implementation.
export async function run(_argv: string[]): Promise<number> {
  throw new Error('pinrotate schedule: not implemented yet');
}
