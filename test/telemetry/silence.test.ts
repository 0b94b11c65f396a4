/**
 * The per-vehicle silence threshold (telemetry/silence.ts) on message arrival times recorded from the
 * built-in simulator through the fault proxy (fixtures/silence-arrivals.json, record-arrivals.ts):
 * a streaming link and a heartbeat-only link, each clean and then at 10 % packet loss.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SilenceJudge } from '../../telemetry/silence';

interface Recorded {
  kind: 'streaming' | 'heartbeat';
  lossFromMs: number;
  arrivalsMs: number[];
}
const recorded = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'silence-arrivals.json'), 'utf8')) as { links: Recorded[] };
const link = (kind: Recorded['kind']) => recorded.links.find((l) => l.kind === kind)!;
/** Recorded offsets start near 0: put them at a plausible epoch time. */
const EPOCH = Date.UTC(2026, 11, 7);

/**
 * Plays arrival times through a judge as the hub uses it (observe at each arrival, ask the threshold
 * while silent, every `stepMs`) and returns the silences that would have been shown as a lost link,
 * and the thresholds in force just before each arrival after `fromMs`.
 */
function play(arrivalsMs: number[], stepMs = 10, judge = new SilenceJudge()) {
  const flagged: Array<{ atMs: number; silenceMs: number }> = [];
  const thresholds: Array<{ atMs: number; th: number }> = [];
  for (let i = 0; i < arrivalsMs.length; i++) {
    const at = EPOCH + arrivalsMs[i];
    if (i > 0) {
      const prev = EPOCH + arrivalsMs[i - 1];
      for (let t = prev + stepMs; t < at; t += stepMs) {
        if (t - prev > judge.thresholdMs('v', t)) {
          flagged.push({ atMs: arrivalsMs[i - 1], silenceMs: at - prev });
          break;
        }
      }
      thresholds.push({ atMs: arrivalsMs[i], th: judge.thresholdMs('v', at - 1) });
    }
    judge.observe('v', at);
  }
  return { flagged, thresholds, judge };
}

/** When, after the last arrival, a silent vehicle is first judged stale (ms of silence). */
function silenceUntilStale(judge: SilenceJudge, lastMs: number, stepMs = 10): number {
  for (let s = stepMs; s < 10_000; s += stepMs) if (s > judge.thresholdMs('v', EPOCH + lastMs + s)) return s;
  return Infinity;
}

describe('silence threshold on recorded arrivals', () => {
  test('the recording holds what it claims: a streaming link (gaps ≤ 300 ms) and a 1 Hz heartbeat link that lost heartbeats', () => {
    const gaps = (a: number[]) => a.slice(1).map((x, i) => x - a[i]);
    const s = gaps(link('streaming').arrivalsMs);
    const h = gaps(link('heartbeat').arrivalsMs);
    expect(s.length).toBeGreaterThan(200);
    expect(Math.max(...s)).toBeLessThan(350);
    expect(h.length).toBeGreaterThan(20);
    // Heartbeats about a second apart, and at least one lost (a gap of about two seconds).
    expect(h.filter((g) => g > 900 && g < 1200).length).toBeGreaterThan(h.length / 2);
    expect(Math.max(...h)).toBeGreaterThan(1800);
  });

  test('a streaming vehicle: never shown lost while it streams (also at 10 % loss), shown lost after three of its own gaps (under 1 s) of silence', () => {
    const { arrivalsMs } = link('streaming');
    const { flagged, thresholds, judge } = play(arrivalsMs);
    expect(flagged).toEqual([]);
    // Until its cadence is known (3 s), the fixed 3 s; then 3 × its largest recent gap (its 4 Hz bursts,
    // ≤ 300 ms apart: the recording's own check above), never under the 750 ms floor.
    expect(thresholds.filter((x) => x.atMs < 3000).every((x) => x.th === 3000)).toBe(true);
    const learnt = thresholds.filter((x) => x.atMs > arrivalsMs[0] + 3100);
    expect(learnt.length).toBeGreaterThan(150);
    expect(learnt.every((x) => x.th >= 750 && x.th <= 900)).toBe(true);
    // The link is cut after the last recorded message: shown lost after the threshold then in force, under a second.
    const last = arrivalsMs[arrivalsMs.length - 1];
    const th = judge.thresholdMs('v', EPOCH + last + 1);
    expect(silenceUntilStale(judge, last)).toBe(Math.floor(th / 10) * 10 + 10);
    expect(silenceUntilStale(judge, last)).toBeLessThan(1000);
  });

  test('a heartbeat-only vehicle: never shown lost while its heartbeats arrive, even one lost; shown lost after 3 s of silence', () => {
    const { arrivalsMs } = link('heartbeat');
    const { flagged, thresholds, judge } = play(arrivalsMs);
    expect(flagged).toEqual([]);
    expect(thresholds.every((x) => x.th === 3000)).toBe(true);
    expect(silenceUntilStale(judge, arrivalsMs[arrivalsMs.length - 1])).toBe(3010);
  });

  test('a vehicle whose streams stop and whose heartbeats go on: not shown lost, or once if its next heartbeat is late, never again', () => {
    const s = link('streaming').arrivalsMs;
    const cut = s.findIndex((x) => x > 8000);
    const last = s[cut - 1];
    const hb = link('heartbeat').arrivalsMs;
    // The heartbeats go on at their recorded cadence, the first `firstMs` after the stream's last message.
    const run = (firstMs: number) => play([...s.slice(0, cut), ...hb.map((x) => last + firstMs + (x - hb[0]))]);
    // A heartbeat a second or less after the stream's last message (heartbeats never stopped): nothing shown, and
    // from the second heartbeat on the vehicle is judged by their cadence.
    const onTime = run(700);
    expect(onTime.flagged).toEqual([]);
    expect(onTime.thresholds.filter((x) => x.atMs > last + 2800).every((x) => x.th === 3000)).toBe(true);
    // A late one (1.2 s of silence after a stream): that silence is shown, and from then the vehicle is judged by its heartbeats.
    const late = run(1200);
    expect(late.flagged).toEqual([{ atMs: last, silenceMs: 1200 }]);
    expect(late.thresholds.filter((x) => x.atMs > last + 1200).every((x) => x.th === 3000)).toBe(true);
  });

  test('an outage longer than the cap is not a cadence: after it the threshold is learnt again', () => {
    const s = link('streaming').arrivalsMs;
    const cut = s.findIndex((x) => x > 6000);
    // Five seconds of nothing, then the same stream again.
    const arrivals = [...s.slice(0, cut), ...s.slice(cut).map((x) => x + 5000)];
    const { thresholds } = play(arrivals);
    const back = s[cut] + 5000;
    expect(thresholds.filter((x) => x.atMs > back && x.atMs < back + 2900).every((x) => x.th === 3000)).toBe(true);
    expect(thresholds.filter((x) => x.atMs > back + 3500).every((x) => x.th >= 750 && x.th <= 900)).toBe(true);
  });

  test('options: the cap bounds everything; a factor and a floor of one\'s own', () => {
    const j = new SilenceJudge({ maxMs: 400 });
    expect(j.thresholdMs('x', EPOCH)).toBe(400);
    for (let t = 0; t <= 5000; t += 100) j.observe('x', EPOCH + t);
    expect(j.thresholdMs('x', EPOCH + 5000)).toBe(400);
    const k = new SilenceJudge({ factor: 2, minMs: 300 });
    for (let t = 0; t <= 5000; t += 200) k.observe('x', EPOCH + t);
    expect(k.thresholdMs('x', EPOCH + 5000)).toBe(400);
    k.forget('x');
    expect(k.thresholdMs('x', EPOCH + 5000)).toBe(3000);
    expect(() => new SilenceJudge({ factor: 0 })).toThrow(RangeError);
  });
});
