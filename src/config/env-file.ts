import { readFileSync } from 'node:fs';

/** Escapes in double-quoted values: exactly what `formatEnvFile` writes, decoded in one pass. */
const UNESCAPE: Record<string, string> = { '\\': '\\', '"': '"', n: '\n', r: '\r' };

/** Reads a dotenv-style file (KEY=VALUE, `#` comments, optional quotes). Values never get logged. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    // `s`: a quoted value may hold any character, line separators (U+2028) included.
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/s.exec(line);
    if (!match) throw new Error(`line ${index + 1} is not KEY=VALUE`);
    let value = match[2];
    if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))) {
      value = value.slice(1, -1);
      // An unknown escape (a hand-written `\d`) stays as written.
      if (match[2].startsWith('"')) value = value.replace(/\\([\\"nr])/g, (_, c: string) => UNESCAPE[c]);
    }
    out[match[1]] = value;
  }
  return out;
}

export function readEnvFile(path: string): Record<string, string> {
  try {
    return parseEnvFile(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read env file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

const ESCAPE: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r' };

/** Writes values so `parseEnvFile` reads back exactly the same strings (any text a shell variable can hold). */
export function formatEnvFile(values: Record<string, string | number | undefined>, header: string): string {
  const lines = header.split(/\r?\n/).map((l) => `# ${l}`);
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const text = String(value);
    lines.push(/[\s#"'\\]/.test(text) ? `${key}="${text.replace(/[\\"\n\r]/g, (c) => ESCAPE[c])}"` : `${key}=${text}`);
  }
  return `${lines.join('\n')}\n`;
}
