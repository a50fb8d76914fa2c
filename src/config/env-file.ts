import { readFileSync } from 'node:fs';

/** Reads a dotenv-style file (KEY=VALUE, `#` comments, optional quotes). Values never get logged. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new Error(`line ${index + 1} is not KEY=VALUE`);
    let value = match[2];
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) {
      value = value.slice(1, -1);
      if (match[2].startsWith('"')) value = value.replace(/\\n/g, '\n');
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

export function formatEnvFile(values: Record<string, string | number | undefined>, header: string): string {
  const lines = [`# ${header}`];
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const text = String(value);
    lines.push(/[\s#"'\\]/.test(text) ? `${key}="${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"` : `${key}=${text}`);
  }
  return `${lines.join('\n')}\n`;
}
