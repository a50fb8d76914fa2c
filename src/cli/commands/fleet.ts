// Placeholder being replaced by the fleet implementation.
export async function run(_argv: string[]): Promise<number> {
  throw new Error('pinrotate fleet: not implemented yet');
}
