/** One measured figure, as written to bench/results.json. */
export interface BenchRecord {
  /** e.g. 'planner.route.visibility-graph' */
  name: string;
  value: number;
  /** e.g. 'ms', 'ops/s', '%cpu' */
  unit: string;
  /** The same figure for the baseline measured in the same run (same unit). */
  baseline: number;
  /** value / baseline */
  ratio: number;
  /** What the baseline is, in a few words. */
  baselineName?: string;
  note?: string;
}

/** Each bench/*.bench.ts module exports `run` returning its records. */
export type BenchModule = { run: () => Promise<BenchRecord[]> };
