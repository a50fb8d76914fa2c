/**
 * `pinrotate` from the same build as the chaos runner. bin/pinrotate.js loads the repository's dist/, which may be
 * an older build than the one running the chaos (e.g. a build into another --outDir); this launcher is its twin.
 */
import { main } from '../src/cli/main';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`pinrotate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
