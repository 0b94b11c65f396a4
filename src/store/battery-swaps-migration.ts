/**
 * Migration 9: battery swaps, one row per fresh pack a vehicle was given, append-only like the
 * audit. Written by an operator, supervisor or admin (POST /api/vehicles/:id/battery-swap, source
 * 'operator', with the audit row of the request) or seen in telemetry (source 'telemetry': the
 * remaining charge of a disarmed vehicle jumped, src/fleet/battery-swaps.ts, with the readings
 * before and after). An operator's record of a swap telemetry saw in the 10 minutes before names
 * that row in confirms_id: the same pack, counted once by the operations report.
 */
const PG = `
CREATE TABLE battery_swaps (
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  vehicle_id  TEXT NOT NULL,
  at          TEXT NOT NULL,
  source      TEXT NOT NULL CHECK (source IN ('operator','telemetry')),
  username    TEXT,
  role        TEXT,
  pack_id     TEXT,
  note        TEXT,
  from_pct    DOUBLE PRECISION,
  to_pct      DOUBLE PRECISION,
  audit_id    BIGINT,
  confirms_id BIGINT REFERENCES battery_swaps(id)
);
CREATE INDEX battery_swaps_vehicle ON battery_swaps(vehicle_id, at);
CREATE INDEX battery_swaps_at ON battery_swaps(at);
CREATE TRIGGER battery_swaps_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON battery_swaps
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change('battery swaps are append-only');
REVOKE UPDATE, DELETE, TRUNCATE ON battery_swaps FROM PUBLIC;
`;

const SQLITE = `
CREATE TABLE battery_swaps (
  id          INTEGER PRIMARY KEY,
  vehicle_id  TEXT NOT NULL,
  at          TEXT NOT NULL,
  source      TEXT NOT NULL CHECK (source IN ('operator','telemetry')),
  username    TEXT,
  role        TEXT,
  pack_id     TEXT,
  note        TEXT,
  from_pct    REAL,
  to_pct      REAL,
  audit_id    INTEGER,
  confirms_id INTEGER REFERENCES battery_swaps(id)
);
CREATE INDEX battery_swaps_vehicle ON battery_swaps(vehicle_id, at);
CREATE INDEX battery_swaps_at ON battery_swaps(at);
CREATE TRIGGER battery_swaps_no_update BEFORE UPDATE ON battery_swaps BEGIN SELECT RAISE(ABORT, 'battery swaps are append-only'); END;
CREATE TRIGGER battery_swaps_no_delete BEFORE DELETE ON battery_swaps BEGIN SELECT RAISE(ABORT, 'battery swaps are append-only'); END;
`;

export const BATTERY_SWAPS_MIGRATION = {
  version: 9,
  name: 'battery swaps',
  sql: SQLITE,
  pg: PG,
};
