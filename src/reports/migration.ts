/**
 * Migration 8: the rest of what the operations report reads of an ended job kept in its facts row,
 * so that a report reads the day's ended jobs from two range scans (deliveries and their facts by
 * creation time) without looking up their timelines and requests:
 * - created_at: the job's creation (as in deliveries), indexed: the report reads a period's facts
 *   rows by it instead of looking each job's row up (PostgreSQL would hash the whole table);
 * - dropped_at: the job's first 'delivered' timeline entry (null when it was not delivered);
 * - asked_at: the receipt of the request triaged into the job, else the job's creation;
 * - compound: that request's compound;
 * - wait_s: request-to-drop in seconds (dropped_at − asked_at; null when not delivered) and
 *   within_promise (1 when dropped no later than the promise, else 0), as the report computes them:
 *   a report of a day then converts no timestamp of an ended job.
 * Rows written before this migration have created_at null: the report's backfill completes them
 * (for the period it reports on) and counts them meanwhile as rows without facts.
 * Standard SQL: the same text for SQLite and PostgreSQL.
 */
const SQL = `
ALTER TABLE report_job_facts ADD COLUMN created_at TEXT;
ALTER TABLE report_job_facts ADD COLUMN dropped_at TEXT;
ALTER TABLE report_job_facts ADD COLUMN asked_at TEXT;
ALTER TABLE report_job_facts ADD COLUMN compound TEXT;
ALTER TABLE report_job_facts ADD COLUMN wait_s DOUBLE PRECISION;
ALTER TABLE report_job_facts ADD COLUMN within_promise INTEGER;
CREATE INDEX report_job_facts_created ON report_job_facts(created_at);
`;

export const REPORT_FACTS_MIGRATION = {
  version: 8,
  name: 'report facts: creation, drop and request times, compound, wait and promise kept',
  sql: SQL,
  pg: SQL,
};
