/** Top self-time entries of a V8 `.cpuprofile` (what `node --cpu-prof` writes), grouped by function and file. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** Every profile in `dir` with the thread it is of: `node --cpu-prof` names them CPU.<date>.<time>.<pid>.<tid>.<seq>. */
export function profiles(dir: string): Array<{ file: string; thread: string }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => {
      const tid = f.split('.')[4];
      return { file: join(dir, f), thread: tid === '0' ? 'main thread' : `worker thread ${tid} (workflows)` };
    });
}

/** Share of the profile's samples not idle: how busy the thread was. */
export function busyShare(path: string): number {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const total = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0) || 1;
  const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((n, node) => n + (node.hitCount ?? 0), 0);
  return 1 - idle / total;
}

/** Where a frame comes from: our src, a package, node internals, or the runtime (GC, idle, native). */
function origin(url: string): string {
  if (!url) return '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return 'node';
  const src = /\/(src|bench)\/(.*)$/.exec(url);
  return src ? `${src[1]}/${src[2]}` : relative(process.cwd(), url.replace(/^file:\/\//, ''));
}

export function summarizeProfile(path: string, top = 12): Array<{ function: string; origin: string; selfPct: number }> {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const total = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0) || 1;
  const by = new Map<string, { function: string; origin: string; hits: number }>();
  for (const node of profile.nodes) {
    const fn = node.callFrame.functionName || '(anonymous)';
    const o = origin(node.callFrame.url);
    const key = `${fn}|${o}`;
    const entry = by.get(key) ?? { function: fn, origin: o, hits: 0 };
    entry.hits += node.hitCount ?? 0;
    by.set(key, entry);
  }
  return [...by.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, top)
    .map((e) => ({ function: e.function.slice(0, 48), origin: e.origin.slice(0, 48), selfPct: Math.round((e.hits / total) * 1000) / 10 }));
}

/** Self time by origin (our code, each package, node, native/GC/idle), in percent. */
export function profileByOrigin(path: string, top = 12): Array<{ origin: string; selfPct: number }> {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const total = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0) || 1;
  const by = new Map<string, number>();
  for (const node of profile.nodes) {
    const fn = node.callFrame.functionName;
    const o = fn === '(idle)' || fn === '(garbage collector)' || fn === '(program)' ? fn : origin(node.callFrame.url).replace(/^(src|bench)\/.*/, '$1');
    by.set(o, (by.get(o) ?? 0) + (node.hitCount ?? 0));
  }
  return [...by.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([o, hits]) => ({ origin: o, selfPct: Math.round((hits / total) * 1000) / 10 }));
}
