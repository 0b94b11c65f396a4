/**
 * Numbered schema migrations. `PRAGMA user_version` holds the number of the last one applied;
 * each runs inside one transaction, so a crash mid-migration leaves the previous version intact.
 * Append only: never edit a migration that has shipped. Versions increase but need not be
 * consecutive (a number may be reserved by work not merged yet); they apply in array order.
 */
import { INTAKE_MIGRATION } from '../intake/migration';

export const MIGRATIONS: Array<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  username      TEXT NOT NULL UNIQUE,
  role          TEXT NOT NULL CHECK (role IN ('admin','operator','supervisor','trainer')),
  password_hash TEXT NOT NULL,
  disabled      INTEGER NOT NULL DEFAULT 0,
  created_at    TEXT NOT NULL
);

CREATE TABLE sessions (
  token_hash  TEXT PRIMARY KEY,
  user_id     INTEGER NOT NULL REFERENCES users(id),
  created_ms  INTEGER NOT NULL,
  expires_ms  INTEGER NOT NULL,
  revoked     INTEGER NOT NULL DEFAULT 0,
  address     TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Every edit of the zones or of the preflight policy writes a new row; old rows are never touched.
CREATE TABLE zone_versions (
  version       INTEGER PRIMARY KEY,
  zones         TEXT NOT NULL,
  policy        TEXT NOT NULL,
  feature_count INTEGER NOT NULL,
  updated_at    TEXT NOT NULL,
  updated_by    TEXT NOT NULL,
  change        TEXT NOT NULL
);
CREATE TRIGGER zone_versions_no_update BEFORE UPDATE ON zone_versions BEGIN SELECT RAISE(ABORT, 'zone versions are immutable'); END;
CREATE TRIGGER zone_versions_no_delete BEFORE DELETE ON zone_versions BEGIN SELECT RAISE(ABORT, 'zone versions are immutable'); END;

CREATE TABLE deliveries (
  id            TEXT PRIMARY KEY,
  seq           INTEGER NOT NULL UNIQUE,
  state         TEXT NOT NULL,
  priority      TEXT NOT NULL,
  priority_rank INTEGER NOT NULL,
  vehicle_id    TEXT,
  flight_id     TEXT,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  doc           TEXT NOT NULL
);
CREATE INDEX deliveries_state ON deliveries(state);

CREATE TABLE delivery_events (
  id          INTEGER PRIMARY KEY,
  delivery_id TEXT NOT NULL REFERENCES deliveries(id),
  at          TEXT NOT NULL,
  state       TEXT,
  event       TEXT,
  detail      TEXT
);
CREATE INDEX delivery_events_delivery ON delivery_events(delivery_id, id);

CREATE TABLE flights (
  id          TEXT PRIMARY KEY,
  delivery_id TEXT REFERENCES deliveries(id),
  vehicle_id  TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('active','ended')),
  started_at  TEXT NOT NULL,
  ended_at    TEXT,
  tlog_path   TEXT,
  summary     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX flights_state ON flights(state);

CREATE TABLE audit (
  id          INTEGER PRIMARY KEY,
  at          TEXT NOT NULL,
  username    TEXT,
  role        TEXT,
  action      TEXT NOT NULL,
  vehicle_id  TEXT,
  delivery_id TEXT,
  params      TEXT NOT NULL DEFAULT '{}',
  outcome     TEXT NOT NULL DEFAULT '{}',
  address     TEXT
);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_user ON audit(username);
CREATE INDEX audit_vehicle ON audit(vehicle_id);
CREATE INDEX audit_delivery ON audit(delivery_id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
`,
  },
  {
    version: 2,
    name: 'password state, login throttling, audit outcomes',
    sql: `
-- How a user's password came to be: 'demo' (password = user name), 'generated' (printed once at
-- first start: must be changed at first login), 'set' (chosen by a person).
ALTER TABLE users ADD COLUMN password_state TEXT NOT NULL DEFAULT 'set' CHECK (password_state IN ('demo','generated','set'));
ALTER TABLE users ADD COLUMN password_changed_at TEXT;

-- Failed logins per key ('user:<name>' or 'addr:<address>'): exponential back-off after a few failures.
CREATE TABLE login_failures (
  key             TEXT PRIMARY KEY,
  failures        INTEGER NOT NULL,
  last_ms         INTEGER NOT NULL,
  locked_until_ms INTEGER NOT NULL DEFAULT 0
);

-- Audit before effect: a command's audit row is written (outcome {"pending":true}) before anything
-- leaves for a vehicle; its outcome is added here afterwards, once. Both tables are append-only.
CREATE TABLE audit_outcomes (
  audit_id    INTEGER PRIMARY KEY REFERENCES audit(id),
  at          TEXT NOT NULL,
  outcome     TEXT NOT NULL,
  -- The job a request created, known only once the handler ran (e.g. delivery.create).
  delivery_id TEXT
);
CREATE INDEX audit_outcomes_delivery ON audit_outcomes(delivery_id);
CREATE TRIGGER audit_outcomes_no_update BEFORE UPDATE ON audit_outcomes BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_outcomes_no_delete BEFORE DELETE ON audit_outcomes BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

-- Training jobs (created by trainers, flown on simulated vehicles) never enter the operational queue.
ALTER TABLE deliveries ADD COLUMN training INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 3,
    name: 'signing keys',
    sql: `
-- One MAVLink 2 signing key per link id (a link usually carries one vehicle). The key never leaves
-- this table through the API: readers get key_id, the first 8 hex digits of sha256(key).
CREATE TABLE signing_keys (
  link_id     TEXT PRIMARY KEY,
  vehicle_id  TEXT,
  key         BLOB NOT NULL CHECK (length(key) = 32),
  key_id      TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  created_by  TEXT
);
`,
  },
  {
    version: 4,
    name: 'fence capacity per vehicle',
    sql: `
-- How many fence items a vehicle stores, measured during commissioning (a bounded search of probe
-- fences, src/delivery/commissioning.ts). Without a row the airframe profile's figure applies. The
-- dispatcher refuses to upload a bigger fence (FENCE_CAPACITY).
CREATE TABLE fence_capacities (
  vehicle_id  TEXT PRIMARY KEY,
  autopilot   TEXT NOT NULL,
  items       INTEGER NOT NULL CHECK (items >= 0),
  at_least    INTEGER NOT NULL DEFAULT 0,
  measured_at TEXT NOT NULL,
  measured_by TEXT,
  detail      TEXT NOT NULL DEFAULT '{}'
);
`,
  },
  {
    version: 5,
    name: 'alerts',
    sql: `
-- Operator alerts, kept so that a console opened later (or reloaded) still shows them, and a critical
-- one stays on every console until somebody acknowledges it. code and params let consoles render the
-- alert in the user's language; text is the English sentence. An acknowledgement is written once
-- (who, when) and audited as alert.ack.
CREATE TABLE alerts (
  id          TEXT PRIMARY KEY,
  at          TEXT NOT NULL,
  level       TEXT NOT NULL CHECK (level IN ('info','warning','critical')),
  code        TEXT NOT NULL DEFAULT 'text',
  params      TEXT NOT NULL DEFAULT '{}',
  text        TEXT NOT NULL,
  vehicle_id  TEXT,
  delivery_id TEXT,
  acked_at    TEXT,
  acked_by    TEXT
);
CREATE INDEX alerts_at ON alerts(at);
CREATE INDEX alerts_unacked ON alerts(level) WHERE acked_at IS NULL;
CREATE TRIGGER alerts_ack_once BEFORE UPDATE ON alerts
  WHEN OLD.acked_at IS NOT NULL OR NEW.id IS NOT OLD.id OR NEW.at IS NOT OLD.at OR NEW.level IS NOT OLD.level OR NEW.text IS NOT OLD.text
  BEGIN SELECT RAISE(ABORT, 'an alert is acknowledged once and never changed otherwise'); END;
`,
  },
  // 7: request intake (src/intake/migration.ts).
  INTAKE_MIGRATION,
];
