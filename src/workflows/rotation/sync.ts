import { notify, type RotationRun } from './run';

/** 5. Sync: tell the PKI manager the new pins are live. */
export async function sync(run: RotationRun): Promise<void> {
  run.state.enter('syncing');
  await notify(run, 'certificate_rotation', run.applied!.pins);
  run.announced = true;
}
