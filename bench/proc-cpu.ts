/**
 * CPU time of other processes, read from /proc (Linux): a whole process group (a process started
 * with `detached: true` through npx and tsx is several processes; the work is in the last one),
 * processes by name, and the machine's busy share from /proc/stat.
 */
import { execFileSync } from 'child_process';
import fs from 'fs';

let tick: number | null = null;
/** Clock ticks per second (getconf CLK_TCK; 100 nearly everywhere). */
function ticksPerSecond(): number {
  if (tick === null) {
    try {
      tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      tick = 100;
    }
  }
  return tick;
}

interface Stat {
  pid: number;
  comm: string;
  pgrp: number;
  cpuMs: number;
}

function readStats(): Stat[] {
  const out: Stat[] = [];
  const hz = ticksPerSecond();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let s: string;
    try {
      s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    // Fields after "(comm)": 3 state, 4 ppid, 5 pgrp, … 14 utime, 15 stime (1-based as in proc(5)).
    const f = s.slice(close + 2).split(' ');
    out.push({ pid: Number(d), comm, pgrp: Number(f[2]), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / hz });
  }
  return out;
}

/** CPU ms used so far by every live process of each group, by group id. */
export function groupsCpuMs(pgids: number[]): Map<number, number> {
  const want = new Set(pgids);
  const m = new Map<number, number>(pgids.map((g) => [g, 0]));
  for (const s of readStats()) if (want.has(s.pgrp)) m.set(s.pgrp, m.get(s.pgrp)! + s.cpuMs);
  return m;
}

/** CPU ms used so far by every live process named `comm` (e.g. 'nats-server'). */
export function namedCpuMs(comm: string): number {
  let ms = 0;
  for (const s of readStats()) if (s.comm === comm) ms += s.cpuMs;
  return ms;
}

/** The machine's CPU counters: busy and total jiffies over all cores. */
export function machineCpu(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const n = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = n[3] + (n[4] ?? 0);
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Busy share of the whole machine between two machineCpu() readings, percent of all cores. */
export function machineBusyPct(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  return b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * 100 : NaN;
}
