import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { bundleWorkflows, PRELOADED_MODULES } from '../../src/workflow-bundle';

const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never;
const DIST_SRC = resolve(__dirname, '..', '..', 'src');
const SRC = resolve(__dirname, '..', '..', '..', 'src');

/** The TypeScript source a compiled module under dist/src came from. */
function sourceOf(compiled: string): string {
  return join(SRC, compiled.slice(DIST_SRC.length + 1).replace(/\.js$/, '.ts'));
}

/** A module and every project module it imports at run time (type-only imports are erased). */
function closure(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'(\.[^']+)'/gms)) {
      const base = resolve(dirname(file), m[1]);
      const next = [`${base}.ts`, join(base, 'index.ts')].find((f) => existsSync(f));
      assert.ok(next, `${file} imports ${m[1]}, which was not found`);
      visit(next);
    }
  };
  visit(entry);
  return [...seen];
}

test('preloaded modules are shared by every run of a worker thread, so they hold no state of their own', () => {
  assert.ok(PRELOADED_MODULES.length > 0);
  for (const compiled of PRELOADED_MODULES) {
    for (const file of closure(sourceOf(compiled))) {
      const rel = file.slice(SRC.length + 1);
      // Workflow code keeps a run's state, activities touch the world: neither may be evaluated once for all runs.
      assert.ok(!rel.startsWith(`workflows${sep}`) && !rel.startsWith(`activities${sep}`), `${rel} is reached from preloaded ${compiled}`);
      const text = readFileSync(file, 'utf8');
      // Module-level variables and mutable collections would carry one run's values into the next.
      const mutable = text.match(/^(?:export\s+)?(?:let|var)\s+\w+|^(?:export\s+)?const\s+\w+(?:\s*:[^=]+)?=\s*new\s+(?:Map|Set|WeakMap|Array)\b/m);
      assert.equal(mutable, null, `${rel} has module-level state: ${mutable?.[0]}`);
    }
  }
});

test('the bundle the worker, the tests and the bench run preloads those modules', async () => {
  const bundle = await bundleWorkflows(quiet);
  const start = bundle.code.indexOf('exports.preloadModules = function preloadModules()');
  assert.ok(start >= 0, 'the bundle has a preloadModules entry');
  const body = bundle.code.slice(start, bundle.code.indexOf('exports.importWorkflows', start));
  for (const compiled of PRELOADED_MODULES) {
    const id = `./${compiled.slice(resolve(DIST_SRC, '..', '..').length + 1)}`;
    assert.ok(body.includes(`"${id}"`), `${id} is preloaded`);
  }
});
