import { CERT_SOURCE_PATTERN, CLIENT_ID_PATTERN, type FleetClient } from '../contract';

/**
 * `fleet --clients FILE`: one client id per line (`#` starts a comment, blank lines are ignored), or a JSON array
 * of ids and `{clientId, certSource?, serviceId?}` objects. Every problem is reported with its line (or item), so
 * an operator fixes the file in one pass; nothing is started while a problem remains.
 */

export interface ParsedClients {
  clients: FleetClient[];
  problems: string[];
}

const ID_RULE = '1-128 letters, digits, ".", "_" or "-", starting with a letter or digit';
const OBJECT_KEYS = new Set(['clientId', 'certSource', 'serviceId']);

export function parseClientsFile(raw: string): ParsedClients {
  const text = raw.replace(/^\uFEFF/, '');
  return text.trimStart().startsWith('[') ? parseJson(text) : parseLines(text);
}

function parseLines(text: string): ParsedClients {
  const clients: FleetClient[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = index + 1;
    const value = rawLine.replace(/#.*$/, '').trim();
    if (!value) return;
    if (/\s/.test(value)) {
      problems.push(`line ${line}: expected one client id per line, got ${JSON.stringify(value.slice(0, 60))}`);
      return;
    }
    if (!CLIENT_ID_PATTERN.test(value)) {
      problems.push(`line ${line}: ${JSON.stringify(value.slice(0, 60))} is not a client id (${ID_RULE})`);
      return;
    }
    const first = seen.get(value);
    if (first !== undefined) {
      problems.push(`line ${line}: ${value} is listed again (first on line ${first})`);
      return;
    }
    seen.set(value, line);
    clients.push({ clientId: value });
  });
  return { clients, problems };
}

/** 1-based line of a character offset, to point at JSON syntax errors. */
function lineAt(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

function parseJson(text: string): ParsedClients {
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const position = /position (\d+)/.exec(message);
    const where = position ? `line ${lineAt(text, Number(position[1]))}: ` : '';
    return { clients: [], problems: [`${where}not valid JSON (${message})`] };
  }
  if (!Array.isArray(items)) return { clients: [], problems: ['a JSON clients file must be an array of ids or {clientId, certSource?} objects'] };
  const clients: FleetClient[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  items.forEach((item: unknown, index) => {
    const at = `item ${index + 1}`;
    let client: FleetClient;
    if (typeof item === 'string') {
      client = { clientId: item };
    } else if (item && typeof item === 'object' && !Array.isArray(item)) {
      const o = item as Record<string, unknown>;
      const unknown = Object.keys(o).filter((k) => !OBJECT_KEYS.has(k));
      if (unknown.length > 0) {
        problems.push(`${at}: unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: clientId, certSource, serviceId`);
        return;
      }
      if (typeof o.clientId !== 'string') {
        problems.push(`${at}: clientId must be a string`);
        return;
      }
      if (o.certSource !== undefined && (typeof o.certSource !== 'string' || !CERT_SOURCE_PATTERN.test(o.certSource))) {
        problems.push(`${at}: certSource must be emulator-ca, file:PATH or https://URL`);
        return;
      }
      if (o.serviceId !== undefined && (typeof o.serviceId !== 'string' || o.serviceId.length === 0 || o.serviceId.length > 256)) {
        problems.push(`${at}: serviceId must be a non-empty string`);
        return;
      }
      client = { clientId: o.clientId, ...(o.certSource ? { certSource: o.certSource as string } : {}), ...(o.serviceId ? { serviceId: o.serviceId as string } : {}) };
    } else {
      problems.push(`${at}: expected a client id or a {clientId, certSource?} object`);
      return;
    }
    if (!CLIENT_ID_PATTERN.test(client.clientId)) {
      problems.push(`${at}: ${JSON.stringify(client.clientId.slice(0, 60))} is not a client id (${ID_RULE})`);
      return;
    }
    const first = seen.get(client.clientId);
    if (first !== undefined) {
      problems.push(`${at}: ${client.clientId} is listed again (first as item ${first})`);
      return;
    }
    seen.set(client.clientId, index + 1);
    clients.push(client);
  });
  return { clients, problems };
}
