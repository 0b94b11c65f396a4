/** The intake, places and report routes in the API's OpenAPI document (merged by createApi). */
import { z } from 'zod';
import { IntakePolicySchema } from '../../intake/policy';
import { DropBody, KeyBody, RejectBody, RequestBody, TriageBody } from './requests';
import { ImportBody, MatchBody, SaveBody } from './places';
import { ReportQuerySchema } from './reports';

interface Doc {
  method: 'get' | 'post' | 'put';
  path: string;
  summary: string;
  /** Console permission (roles.ts), and/or the partner-key scope that also opens the route. */
  permission: string | null;
  scope?: string;
  body?: z.ZodType;
  query?: z.ZodType;
  audit?: string;
}

const DOCS: Doc[] = [
  { method: 'post', path: '/api/requests', summary: 'A resident request (partner key with requests.create, or an operator): matched, prioritised, merged with a duplicate; answers the status link once', permission: 'delivery.create', scope: 'requests.create', body: RequestBody, audit: 'request.create' },
  { method: 'get', path: '/api/requests', summary: 'Requests, newest first (text and contact for admin, operator, supervisor; masked otherwise)', permission: 'read' },
  { method: 'get', path: '/api/requests.csv', summary: 'Requests as CSV, contacts and text masked unless an admin asks (reveal=1)', permission: 'read', audit: 'request.export' },
  { method: 'get', path: '/api/requests/:id', summary: 'One request with its match candidates', permission: 'read' },
  { method: 'get', path: '/api/requests/:id/status', summary: "A request's state for the partner that sent it (requests.read)", permission: 'read', scope: 'requests.read' },
  { method: 'post', path: '/api/requests/:id/triage', summary: 'Make the job of a request in one step (drop point from the match or the place chosen)', permission: 'delivery.create', body: TriageBody, audit: 'request.triage' },
  { method: 'post', path: '/api/requests/:id/drop', summary: "Give a new request its drop point (an operator's click on the map): checked as a catalogue place is (sealed zone, no-fly, reach) before it is kept", permission: 'delivery.create', body: DropBody, audit: 'request.drop' },
  { method: 'post', path: '/api/requests/:id/reject', summary: 'Reject a request', permission: 'delivery.create', body: RejectBody, audit: 'request.reject' },
  { method: 'post', path: '/api/requests/purge', summary: 'Blank text and contacts past the retention period', permission: 'users.manage', audit: 'request.purge' },
  { method: 'get', path: '/api/status/:token', summary: "The resident's status (no login; rate-limited; 410 after the grace period)", permission: null },
  { method: 'get', path: '/api/intake/keys', summary: 'Partner API keys (never their secrets)', permission: 'users.manage' },
  { method: 'post', path: '/api/intake/keys', summary: 'A partner API key (role intake; the key is shown once)', permission: 'users.manage', body: KeyBody, audit: 'intake.key.create' },
  { method: 'post', path: '/api/intake/keys/:id/revoke', summary: 'Revoke a partner API key', permission: 'users.manage', audit: 'intake.key.revoke' },
  { method: 'get', path: '/api/intake/policy', summary: 'The intake policy', permission: 'read' },
  { method: 'put', path: '/api/intake/policy', summary: 'Change the intake policy', permission: 'policy.edit', body: IntakePolicySchema, audit: 'intake.policy' },
  { method: 'get', path: '/api/places', summary: 'The places catalogue with the check of each drop point', permission: 'read' },
  { method: 'get', path: '/api/places/history', summary: 'Catalogue versions, newest first', permission: 'read' },
  { method: 'put', path: '/api/places', summary: 'Replace the catalogue (drop points checked against the zones first)', permission: 'zones.edit', body: SaveBody, audit: 'places.save' },
  { method: 'post', path: '/api/places/import', summary: 'Import the catalogue from CSV or GeoJSON', permission: 'zones.edit', body: ImportBody, audit: 'places.save' },
  { method: 'post', path: '/api/places/match', summary: 'What a text matches in the catalogue', permission: 'read', body: MatchBody },
  { method: 'get', path: '/api/reports/operations', summary: 'Operations report for local days from..to', permission: 'audit.read', query: ReportQuerySchema },
  { method: 'get', path: '/api/reports/operations.csv', summary: 'One table of the operations report as CSV (table=day|site|vehicle|compound|priority|requests|failures|vehicles)', permission: 'audit.read' },
];

const schema = (s: z.ZodType) => {
  try {
    return z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  } catch {
    return {};
  }
};

/** OpenAPI path items of these routes. */
export function intakeOpenApiPaths(): Record<string, Record<string, unknown>> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const d of DOCS) {
    const params: unknown[] = [...d.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (d.query) {
      const js: any = schema(d.query);
      for (const [name, sch] of Object.entries(js.properties ?? {})) params.push({ name, in: 'query', required: (js.required ?? []).includes(name), schema: sch });
    }
    const security = d.permission === null ? [] : [{ bearer: [] }, { cookie: [] }];
    (paths[d.path.replace(/:([A-Za-z]+)/g, '{$1}')] ??= {})[d.method] = {
      summary: d.summary,
      parameters: params,
      'x-permission': d.permission,
      ...(d.scope ? { 'x-partner-scope': d.scope } : {}),
      ...(d.audit ? { 'x-audit-action': d.audit } : {}),
      security,
      responses: { '200': { description: 'OK' }, '400': { description: 'INVALID_BODY / INVALID_QUERY / HOSTILE_TEXT / …' }, '401': { description: 'UNAUTHENTICATED' }, '403': { description: 'FORBIDDEN' }, '429': { description: 'TOO_MANY_REQUESTS' } },
      ...(d.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema(d.body) } } } } : {}),
    };
  }
  return paths;
}
