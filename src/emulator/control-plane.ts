import { z } from 'zod';
import type { EmulatorCa } from './ca';
import { faultSchema, type FaultQueue } from './faults';
import type { FieldClients } from './field-clients';
import { parseSince } from './gateway';
import {
  decodeSegment,
  headerValue,
  HttpError,
  isLoopback,
  parseJsonObject,
  readBody,
  safeEqual,
  sendJson,
  sendText,
  type RequestContext,
} from './http-util';
import type { Platform } from './platform';
import type { RateLimiter } from './rate-limit';
import type { StatsRecorder } from './stats';
import type { HandshakeTelemetry } from './telemetry';
import type { ErrorDetail, IssueRequest, KeyType } from './types';
import type { WebhookReceiver } from './webhook-receiver';

const BODY_LIMIT = 512 * 1024;

const clientSchema = z.strictObject({
  // Ids end up in URL paths and workflow ids (`pin-rotation/{id}`): no slashes or spaces.
  id: z.string().min(1).max(128).regex(/^[A-Za-z0-9._~:@-]+$/, 'letters, digits and . _ ~ : @ - only'),
  name: z.string().min(1).max(256),
  secret: z.string().min(1).max(1024),
  mtlsRequired: z.boolean(),
  certificateChain: z.string().optional(),
  // Pin rules are the gateway's own (same codes as PATCH), checked by Platform.
  pins: z.array(z.unknown()).optional(),
  state: z.enum(['active', 'inactive']).optional(),
  description: z.string().max(1024).optional(),
});

const fieldClientSchema = z.strictObject({
  clientId: z.string().min(1).max(128),
  handshakesPerSecond: z.number().optional(),
  deployDelayMs: z.number().optional(),
});

const issueSchema = z.strictObject({
  commonName: z.string(),
  days: z.number().optional(),
  keyType: z.string().optional(),
});

const webhookFailSchema = z.strictObject({
  status: z
    .number()
    .int()
    .refine((s) => s === 0 || (s >= 400 && s <= 599), 'must be 0 (connection reset) or 400..599'),
  times: z.number().int().min(0).max(1_000_000),
  delayMs: z.number().int().min(0).max(120_000).optional(),
});

export interface ControlPlaneDeps {
  adminToken: string;
  platform: Platform;
  ca: EmulatorCa;
  faults: FaultQueue;
  webhooks: WebhookReceiver;
  stats: StatsRecorder;
  limiter: RateLimiter;
  fieldClients: FieldClients;
  telemetry: HandshakeTelemetry;
}

/** zod issues → ErrorBody details: FIELD_UNKNOWN, FIELD_MISSING or FIELD_INVALID per field. */
function parseWith<T extends z.ZodType>(schema: T, body: Record<string, unknown>, entityId?: string): z.infer<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const details: ErrorDetail[] = [];
  const messages: string[] = [];
  for (const issue of result.error.issues) {
    const id = entityId ? { entityId } : {};
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        details.push({ errorCode: 'FIELD_UNKNOWN', fieldName: [...issue.path.map(String), key].join('.'), ...id });
        messages.push(`${key}: unknown field`);
      }
      continue;
    }
    const fieldName = issue.path.map(String).join('.') || 'body';
    const missing = issue.path.length === 1 && !(String(issue.path[0]) in body);
    details.push({ errorCode: missing ? 'FIELD_MISSING' : 'FIELD_INVALID', fieldName, ...id });
    messages.push(`${fieldName}: ${missing ? 'is required' : issue.message}`);
  }
  throw new HttpError(400, `The request is invalid: ${messages.join('; ')}`, { details });
}

async function jsonBody(ctx: RequestContext): Promise<Record<string, unknown>> {
  return parseJsonObject(await readBody(ctx.req, BODY_LIMIT));
}

/** `/__admin/*` (DESIGN.md §7): loopback callers holding X-Admin-Token only. */
export async function handleControlPlane(ctx: RequestContext, deps: ControlPlaneDeps): Promise<void> {
  if (!isLoopback(ctx.req.socket.remoteAddress)) {
    throw new HttpError(403, 'The control plane only answers loopback callers.');
  }
  const token = headerValue(ctx.req, 'x-admin-token');
  if (token === undefined || !safeEqual(token, deps.adminToken)) {
    throw new HttpError(401, 'X-Admin-Token is missing or wrong.', { code: 'authentication.required' });
  }
  const route = `${ctx.method} ${ctx.path.replace(/\/+$/, '')}`;
  const clientMatch = /^GET \/__admin\/clients\/([^/]+)$/.exec(route);
  if (clientMatch) {
    const id = decodeSegment(clientMatch[1]);
    const state = deps.platform.getClientState(id);
    if (!state) throw new HttpError(404, `OAuth client ${id} was not found.`);
    sendJson(ctx.res, 200, state);
    return;
  }
  const handshakesMatch = /^GET \/__admin\/clients\/([^/]+)\/handshakes$/.exec(route);
  if (handshakesMatch) {
    const id = decodeSegment(handshakesMatch[1]);
    const client = deps.platform.activePins(id);
    if (!client) throw new HttpError(404, `OAuth client ${id} was not found.`);
    sendJson(ctx.res, 200, deps.telemetry.summary(id, parseSince(ctx, id), client.pins));
    return;
  }
  const fieldClientMatch = /^DELETE \/__admin\/field-clients\/([^/]+)$/.exec(route);
  if (fieldClientMatch) {
    const id = decodeSegment(fieldClientMatch[1]);
    const stopped = deps.fieldClients.stop(id);
    if (stopped === 0) throw new HttpError(404, `No field client runs for ${id}.`);
    sendJson(ctx.res, 200, { stopped });
    return;
  }
  switch (route) {
    case 'POST /__admin/field-clients': {
      const view = deps.fieldClients.start(parseWith(fieldClientSchema, await jsonBody(ctx)));
      ctx.log.info({ clientId: view.clientId, handshakesPerSecond: view.handshakesPerSecond, deployDelayMs: view.deployDelayMs }, 'field client started');
      sendJson(ctx.res, 201, view);
      return;
    }
    case 'GET /__admin/field-clients':
      sendJson(ctx.res, 200, { fieldClients: deps.fieldClients.list() });
      return;
    case 'DELETE /__admin/field-clients':
      sendJson(ctx.res, 200, { stopped: deps.fieldClients.stop() });
      return;
    case 'POST /__admin/clients': {
      const body = await jsonBody(ctx);
      const input = parseWith(clientSchema, body, typeof body.id === 'string' ? body.id : undefined);
      const view = deps.platform.upsertClient(input);
      ctx.log.info({ clientId: view.id, pins: view.pins.length }, 'client created or replaced');
      sendJson(ctx.res, 201, view);
      return;
    }
    case 'GET /__admin/clients':
      sendJson(ctx.res, 200, { ids: deps.platform.listClientIds() });
      return;
    case 'POST /__admin/faults': {
      const fault = deps.faults.add(parseWith(faultSchema, await jsonBody(ctx)));
      sendJson(ctx.res, 201, { fault, queued: deps.faults.list().length });
      return;
    }
    case 'GET /__admin/faults':
      sendJson(ctx.res, 200, { faults: deps.faults.list() });
      return;
    case 'DELETE /__admin/faults':
      sendJson(ctx.res, 200, { cleared: deps.faults.clear() });
      return;
    case 'POST /__admin/ca/issue': {
      const request = parseWith(issueSchema, await jsonBody(ctx));
      const issued = deps.ca.issue({ ...request, keyType: request.keyType as KeyType | undefined } satisfies IssueRequest);
      // The private key goes to the caller only; it is never logged.
      ctx.log.info({ commonName: request.commonName }, 'certificate issued');
      sendJson(ctx.res, 201, issued, { 'cache-control': 'no-store' });
      return;
    }
    case 'GET /__admin/ca':
      sendText(ctx.res, 200, deps.ca.certificatePem, 'application/x-pem-file');
      return;
    case 'GET /__admin/webhooks':
      sendJson(ctx.res, 200, { deliveries: deps.webhooks.list() });
      return;
    case 'POST /__admin/webhooks/fail': {
      const spec = parseWith(webhookFailSchema, await jsonBody(ctx));
      deps.webhooks.fail(spec);
      sendJson(ctx.res, 200, spec);
      return;
    }
    case 'GET /__admin/stats':
      sendJson(ctx.res, 200, deps.stats.snapshot());
      return;
    case 'POST /__admin/reset':
      deps.fieldClients.stop();
      deps.telemetry.reset();
      deps.platform.reset();
      deps.faults.clear();
      deps.webhooks.reset();
      deps.stats.reset();
      deps.limiter.reset();
      sendJson(ctx.res, 200, { reset: true });
      return;
    default:
      throw new HttpError(404, `No control-plane route for ${ctx.method} ${ctx.path}.`);
  }
}
