/**
 * Named points in a job's launch and tracking at which a test can freeze this process, to kill it
 * there with SIGKILL and check what another node makes of the job (test/agent/takeover-matrix.test.ts).
 *
 * Inert unless the environment variable DL_PAUSE_AT names the point. When it does, the process
 * writes one line `{"paused":"<point>", ...}` to stdout (synchronously, before anything else can
 * happen) and then blocks its thread for good: no timer, socket or message is served any more, as
 * if the machine had stopped there. Only SIGKILL (or another signal) ends it.
 *
 * Points:
 *   upload-mission   the mission transfer has sent half its items (fence and rally are on the vehicle)
 *   armed            the vehicle is confirmed armed; no flight row is written yet
 *   released         the vehicle passed the release item; `delivered` is not written yet
 */
import fs from 'fs';

export type PausePoint = 'upload-mission' | 'armed' | 'released';

export function pauseAt(point: PausePoint, detail: Record<string, unknown> = {}): void {
  const wanted = process.env.DL_PAUSE_AT;
  if (!wanted || wanted !== point) return;
  fs.writeSync(1, JSON.stringify({ paused: point, pid: process.pid, ...detail }) + '\n');
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}
