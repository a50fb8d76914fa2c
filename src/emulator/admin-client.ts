import type {
  AdminClientInput,
  AdminClientState,
  ClientView,
  EmulatorStats,
  ErrorBody,
  FaultSpec,
  FieldClientSpec,
  FieldClientView,
  HandshakeSummary,
  IssuedCertificate,
  IssueRequest,
  QueuedFault,
  WebhookDelivery,
  WebhookFailSpec,
} from './types';

/** A non-2xx answer from the control plane, with the HTTP status and the Genesys error code. */
export class EmulatorAdminError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: unknown;

  constructor(method: string, path: string, status: number, body: unknown) {
    const error = body as Partial<ErrorBody> | undefined;
    const code = typeof error?.code === 'string' ? error.code : `http.${status}`;
    const detail = typeof error?.message === 'string' ? `: ${error.message}` : '';
    super(`emulator ${method} ${path} failed with ${status} ${code}${detail}`);
    this.name = 'EmulatorAdminError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** Typed client of the emulator's control plane (DESIGN.md §7), over global fetch. */
export class EmulatorAdmin {
  private readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly adminToken: string,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  /** Creates or replaces a client (and its OAuth credentials); version restarts at 1. */
  createClient(client: AdminClientInput): Promise<ClientView> {
    return this.json('POST', '/__admin/clients', client);
  }

  /** Raw state: the client view plus `versions`, every version from 1 to the current one. */
  getClient(id: string): Promise<AdminClientState> {
    return this.json('GET', `/__admin/clients/${encodeURIComponent(id)}`);
  }

  async listClients(): Promise<string[]> {
    return (await this.json<{ ids: string[] }>('GET', '/__admin/clients')).ids;
  }

  addFault(fault: FaultSpec): Promise<{ fault: QueuedFault; queued: number }> {
    return this.json('POST', '/__admin/faults', fault);
  }

  async faults(): Promise<QueuedFault[]> {
    return (await this.json<{ faults: QueuedFault[] }>('GET', '/__admin/faults')).faults;
  }

  clearFaults(): Promise<{ cleared: number }> {
    return this.json('DELETE', '/__admin/faults');
  }

  issueCertificate(request: IssueRequest): Promise<IssuedCertificate> {
    return this.json('POST', '/__admin/ca/issue', request);
  }

  /** The CA certificate PEM. */
  async getCa(): Promise<string> {
    const res = await this.request('GET', '/__admin/ca');
    return res.text();
  }

  webhooks(): Promise<{ deliveries: WebhookDelivery[] }> {
    return this.json('GET', '/__admin/webhooks');
  }

  failWebhooks(spec: WebhookFailSpec): Promise<WebhookFailSpec> {
    return this.json('POST', '/__admin/webhooks/fail', spec);
  }

  /** Starts (or restarts) a simulated integration client making real mTLS handshakes (DESIGN.md §7). */
  startFieldClient(spec: FieldClientSpec): Promise<FieldClientView> {
    return this.json('POST', '/__admin/field-clients', spec);
  }

  async fieldClients(): Promise<FieldClientView[]> {
    return (await this.json<{ fieldClients: FieldClientView[] }>('GET', '/__admin/field-clients')).fieldClients;
  }

  /** Stops the field client of `clientId`, or all of them; answers how many stopped. */
  async stopFieldClients(clientId?: string): Promise<number> {
    const path = clientId === undefined ? '/__admin/field-clients' : `/__admin/field-clients/${encodeURIComponent(clientId)}`;
    return (await this.json<{ stopped: number }>('DELETE', path)).stopped;
  }

  /**
   * The gateway's handshake telemetry of `clientId` since `since` (DESIGN.md §2), through the control plane: the
   * same summary `GET /api/v2/oauth/clients/{id}/handshakes` answers, without an access token or the rate limit.
   */
  handshakes(clientId: string, since: string | Date): Promise<HandshakeSummary> {
    const iso = since instanceof Date ? since.toISOString() : since;
    return this.json('GET', `/__admin/clients/${encodeURIComponent(clientId)}/handshakes?since=${encodeURIComponent(iso)}`);
  }

  stats(): Promise<EmulatorStats> {
    return this.json('GET', '/__admin/stats');
  }

  /** Clears clients, tokens, faults, deliveries, stats and rate-limit windows; the CA stays. */
  reset(): Promise<{ reset: true }> {
    return this.json('POST', '/__admin/reset');
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    return (await res.json()) as T;
  }

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    const send = (): Promise<Response> =>
      fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          'x-admin-token': this.adminToken,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    let res: Response;
    try {
      res = await send();
    } catch (err) {
      // A pooled connection to an emulator that restarted on the same port fails once; a read may be repeated.
      const code = (err as { cause?: { code?: unknown } }).cause?.code;
      if ((method !== 'GET' && method !== 'DELETE') || (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET')) throw err;
      res = await send();
    }
    if (!res.ok) {
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      throw new EmulatorAdminError(method, path, res.status, parsed);
    }
    return res;
  }
}
