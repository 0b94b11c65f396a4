/**
 * Migration 7: the places catalogue, partner keys, resident requests and the intake settings.
 * Standard SQL only (no triggers, no AUTOINCREMENT, no INSERT OR …), so the same text creates the
 * tables on PostgreSQL.
 */
const SQL = `
-- The places catalogue: every edit writes a new version, checked against the zones version named
-- in zones_version. Old versions are kept (who changed what, when).
CREATE TABLE intake_place_versions (
  version       INTEGER PRIMARY KEY,
  zones_version INTEGER NOT NULL,
  places        TEXT NOT NULL,
  place_count   INTEGER NOT NULL,
  checks        TEXT NOT NULL DEFAULT '{}',
  updated_at    TEXT NOT NULL,
  updated_by    TEXT NOT NULL,
  change        TEXT NOT NULL
);

-- Per-partner API keys (role intake): only sha256 of the secret is kept.
CREATE TABLE intake_keys (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  key_hash     TEXT NOT NULL,
  scopes       TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  created_by   TEXT NOT NULL,
  revoked_at   TEXT,
  last_used_at TEXT
);

-- Requests from residents, partners and the hotline. text and contact are personal data: they are
-- blanked (purged_at set) after the retention period; contact_key (a keyed hash) stays for merging.
CREATE TABLE intake_requests (
  id               TEXT PRIMARY KEY,
  seq              INTEGER NOT NULL UNIQUE,
  status_hash      TEXT NOT NULL UNIQUE,
  source           TEXT NOT NULL,
  received_at      TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  text             TEXT,
  contact          TEXT,
  contact_key      TEXT,
  lang             TEXT NOT NULL DEFAULT 'zh-CN',
  place_id         TEXT,
  compound_id      TEXT,
  drop_lon         DOUBLE PRECISION,
  drop_lat         DOUBLE PRECISION,
  confidence       DOUBLE PRECISION NOT NULL DEFAULT 0,
  match            TEXT NOT NULL DEFAULT '{}',
  priority         TEXT NOT NULL,
  priority_reasons TEXT NOT NULL DEFAULT '[]',
  state            TEXT NOT NULL CHECK (state IN ('new','triaged','merged','rejected')),
  delivery_id      TEXT,
  merged_into      TEXT,
  merges           INTEGER NOT NULL DEFAULT 0,
  triaged_by       TEXT,
  triaged_at       TEXT,
  purged_at        TEXT
);
CREATE INDEX intake_requests_received ON intake_requests(received_at);
CREATE INDEX intake_requests_dup ON intake_requests(contact_key, compound_id, received_at);
CREATE INDEX intake_requests_delivery ON intake_requests(delivery_id);
CREATE INDEX intake_requests_state ON intake_requests(state, seq);

-- Intake policy (auto-job, merge window, retention …) as one JSON value per name.
CREATE TABLE intake_settings (
  name       TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  updated_by TEXT NOT NULL
);

-- What the reports read from an ended job's document (launch site, promise, failure), extracted
-- once: a job document carries its plan (kilobytes of JSON) and an ended job's never changes.
CREATE TABLE report_job_facts (
  delivery_id  TEXT PRIMARY KEY,
  site         TEXT,
  promise_by   TEXT,
  failure_code TEXT,
  reason       TEXT
);

-- Reports select jobs by the time they were created.
CREATE INDEX deliveries_created ON deliveries(created_at);
CREATE INDEX delivery_events_state ON delivery_events(state, delivery_id);
`;

/** Standard SQL: the same text for SQLite and PostgreSQL. */
export const INTAKE_MIGRATION = {
  version: 7,
  name: 'request intake, places catalogue, partner keys',
  sql: SQL,
  pg: SQL,
};
