/**
 * The few places where SQLite and PostgreSQL SQL differ, for the intake and report queries. Every
 * other statement in src/intake and src/reports is standard SQL that runs on both; porting to
 * PostgreSQL means choosing `POSTGRES` here and running the same text through `placeholders`.
 */
export interface SqlDialect {
  name: 'sqlite' | 'postgres';
  /** Seconds since 1970 of an ISO-8601 text timestamp column or expression. */
  epochS(expr: string): string;
  /** A text value inside a JSON text column, by a path of keys. */
  jsonText(column: string, path: string[]): string;
  /** A JSON text column parsed once, to read several values with jsonValue (PostgreSQL: jsonb). */
  jsonDoc(column: string): string;
  /** A text value inside a jsonDoc, by a path of keys. */
  jsonValue(doc: string, path: string[]): string;
  /** The calendar day (YYYY-MM-DD) of an ISO-8601 text timestamp, shifted by offsetMin minutes (local day). */
  day(expr: string, offsetMin: number): string;
  /** Keyword that makes a CTE computed once however often it is read (SQLite ≥ 3.35, PostgreSQL ≥ 12). */
  materialized: string;
  /** Turn `?` placeholders into the dialect's own ($1, $2, … on PostgreSQL). */
  placeholders(sql: string): string;
}

export const SQLITE: SqlDialect = {
  name: 'sqlite',
  epochS: (e) => `((julianday(${e}) - 2440587.5) * 86400.0)`,
  jsonText: (c, p) => `json_extract(${c}, '$.${p.join('.')}')`,
  jsonDoc: (c) => c,
  jsonValue: (c, p) => `json_extract(${c}, '$.${p.join('.')}')`,
  materialized: 'MATERIALIZED',
  day: (e, m) => `strftime('%Y-%m-%d', ${e}, '${Math.trunc(m) >= 0 ? '+' : ''}${Math.trunc(m)} minutes')`,
  placeholders: (sql) => sql,
};

export const POSTGRES: SqlDialect = {
  name: 'postgres',
  epochS: (e) => `EXTRACT(EPOCH FROM CAST(${e} AS timestamptz))`,
  jsonText: (c, p) => `(CAST(${c} AS jsonb) #>> '{${p.join(',')}}')`,
  jsonDoc: (c) => `CAST(${c} AS jsonb)`,
  jsonValue: (c, p) => `(${c} #>> '{${p.join(',')}}')`,
  materialized: 'MATERIALIZED',
  day: (e, m) => `to_char((CAST(${e} AS timestamptz) + INTERVAL '${Math.trunc(m)} minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  placeholders: (sql) => {
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  },
};
