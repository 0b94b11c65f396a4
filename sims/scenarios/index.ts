/**
 * Training scenarios: a launch set-up (vehicles at named launch sites of a zone file in the
 * planner's format) plus faults scheduled in sim time. Scenarios are data; `runScenario` schedules
 * them on a running fleet (built-in: on the sim clock; SITL: on the wall clock scaled by speedup).
 */
import * as fs from 'fs';
import * as path from 'path';
import { SimError, SimFault, SimFleet, SimOptions } from '../index';
import { repoRoot } from '../../src/paths';

export interface ScenarioStep {
  /** Sim seconds after the scenario starts. */
  atS: number;
  /** Instance index, or 'all'. Default 'all'. */
  instance?: number | 'all';
  inject?: SimFault;
  clear?: SimFault['kind'];
  /** What a trainer sees in the log. */
  note: string;
  /** Position of the step in its scenario's list (kept when a vehicle is given only its own steps). */
  n?: number;
}

export interface Scenario {
  name: string;
  description: string;
  /** Zone file (planner format) relative to this folder. */
  zonesFile: string;
  /** Launch-site names from the zone file, one per vehicle. */
  launchSites: string[];
  steps: ScenarioStep[];
}

/** Scenario files live beside this module's source (also when it runs from the compiled bundle). */
const SCENARIO_DIR = path.join(repoRoot(), 'sims', 'scenarios');

export const ZONES_FILE = path.join(SCENARIO_DIR, 'fugou.zones.geojson');

const SITES = ['Chengguan police station', 'North checkpoint', 'East checkpoint'];

export const SCENARIOS: Record<string, Scenario> = {
  demo: {
    name: 'demo',
    description: 'Three vehicles at Fugou launch sites (police station, north and east checkpoints), light breeze.',
    zonesFile: 'fugou.zones.geojson',
    launchSites: SITES,
    steps: [{ atS: 0, inject: { kind: 'wind', speedMps: 3, fromDeg: 45, gustMps: 1 }, note: 'light north-easterly breeze' }],
  },
  'link-loss': {
    name: 'link-loss',
    description: 'The first vehicle loses its link at t = 120 s for 60 s (GCS failsafe if it is flying).',
    zonesFile: 'fugou.zones.geojson',
    launchSites: SITES,
    steps: [
      { atS: 120, instance: 0, inject: { kind: 'link-loss' }, note: 'link lost' },
      { atS: 180, instance: 0, clear: 'link-loss', note: 'link restored' },
    ],
  },
  'low-battery': {
    name: 'low-battery',
    description: 'The first vehicle starts with 40 % and sags under load from t = 90 s.',
    zonesFile: 'fugou.zones.geojson',
    launchSites: SITES,
    steps: [
      { atS: 0, instance: 0, inject: { kind: 'battery-set', pct: 40 }, note: 'battery at 40 %' },
      { atS: 90, instance: 0, inject: { kind: 'battery-sag', pct: 12 }, note: 'battery voltage sags 12 %' },
    ],
  },
  'gps-loss': {
    name: 'gps-loss',
    description: 'The first vehicle loses GPS at t = 90 s for 45 s (EKF failsafe → LAND, drifting with the wind).',
    zonesFile: 'fugou.zones.geojson',
    launchSites: SITES,
    steps: [
      { atS: 0, inject: { kind: 'wind', speedMps: 4, fromDeg: 300, gustMps: 1 }, note: 'moderate north-westerly' },
      { atS: 90, instance: 0, inject: { kind: 'gps-loss' }, note: 'GPS lost' },
      { atS: 135, instance: 0, clear: 'gps-loss', note: 'GPS back' },
    ],
  },
  'strong-wind': {
    name: 'strong-wind',
    description: 'Wind rising from 4 to 14 m/s with gusts over four minutes.',
    zonesFile: 'fugou.zones.geojson',
    launchSites: SITES,
    steps: [
      { atS: 0, inject: { kind: 'wind', speedMps: 4, fromDeg: 270, gustMps: 1 }, note: 'wind 4 m/s from the west' },
      { atS: 60, inject: { kind: 'wind', speedMps: 8, fromDeg: 280, gustMps: 2 }, note: 'wind 8 m/s' },
      { atS: 120, inject: { kind: 'wind', speedMps: 11, fromDeg: 290, gustMps: 3 }, note: 'wind 11 m/s' },
      { atS: 180, inject: { kind: 'wind', speedMps: 14, fromDeg: 300, gustMps: 4 }, note: 'wind 14 m/s, gusting 18' },
    ],
  },
  'release-failure': {
    name: 'release-failure',
    description: 'The first vehicle’s gripper opens but the parcel does not fall.',
    zonesFile: 'fugou.zones.geojson',
    launchSites: SITES,
    steps: [{ atS: 0, instance: 0, inject: { kind: 'release-failure' }, note: 'release mechanism jammed' }],
  },
  'lossy-link': {
    name: 'lossy-link',
    description: 'All links drop 15 % of frames, add 150 ms latency and reorder 5 %.',
    zonesFile: 'fugou.zones.geojson',
    launchSites: SITES,
    steps: [
      { atS: 0, inject: { kind: 'packet-loss', pct: 15 }, note: '15 % packet loss' },
      { atS: 0, inject: { kind: 'delay', ms: 150 }, note: '150 ms latency' },
      { atS: 0, inject: { kind: 'reorder', pct: 5 }, note: '5 % reordering' },
    ],
  },
  'adsb-intruder': {
    name: 'adsb-intruder',
    description:
      'Start it while the first vehicle flies a job: 5 s later a helicopter (HELI01, 40 m/s) heads across its route at its altitude, crossing where the vehicle will be in 45 s. The traffic alert follows; the vehicle holds or lands as the policy says (airspace.traffic.action).',
    zonesFile: 'fugou.zones.geojson',
    launchSites: SITES,
    steps: [{ atS: 5, instance: 0, inject: { kind: 'adsb-traffic', callsign: 'HELI01', icao: 0x7c4a11, speedMps: 40, crossInS: 45, emitterType: 7 }, note: 'helicopter HELI01 inbound across the first vehicle\'s route' }],
  },
};

export function scenarioNames(): string[] {
  return Object.keys(SCENARIOS);
}

export function getScenario(name: string): Scenario {
  const s = SCENARIOS[name];
  if (!s) throw new SimError('SCENARIO_UNKNOWN', `unknown scenario '${name}'; known: ${scenarioNames().join(', ')}`);
  return s;
}

/** Read a scenario's zone file (a GeoJSON FeatureCollection in the planner's format). */
export function scenarioZones(s: Scenario): { type: 'FeatureCollection'; features: Array<{ properties: Record<string, unknown>; geometry: { type: string; coordinates: unknown } }> } {
  return JSON.parse(fs.readFileSync(path.join(SCENARIO_DIR, s.zonesFile), 'utf8'));
}

/** Simulator options that put the scenario's vehicles at its launch sites. */
export function scenarioOptions(nameOrScenario: string | Scenario, base: SimOptions = {}): SimOptions {
  const s = typeof nameOrScenario === 'string' ? getScenario(nameOrScenario) : nameOrScenario;
  const zones = scenarioZones(s);
  const homes = s.launchSites.map((site) => {
    const f = zones.features.find((x) => x.properties.kind === 'launch-site' && x.properties.name === site);
    if (!f) throw new SimError('SCENARIO_UNKNOWN', `scenario '${s.name}': launch site '${site}' not in ${s.zonesFile}`);
    const [lon, lat] = f.geometry.coordinates as [number, number];
    return { lat, lon, altAmslM: 60 };
  });
  return { instances: homes.length, homes, ...base };
}

/** A step of a running scenario, as the simulator applied it. */
export interface ScenarioStepProgress {
  /** Position in the scenario's list of steps. */
  n: number;
  atS: number;
  note: string;
  state: 'pending' | 'done' | 'failed';
  /** Scenario time (sim seconds) at which it was applied. */
  appliedAtS?: number;
  /** Why it could not be applied (state 'failed'). */
  error?: string;
}

/** Where a scenario stands, on the clock of the simulator that runs it. */
export interface ScenarioProgress {
  name: string;
  /** Sim seconds since the scenario started. */
  simS: number;
  /** 'running' until every step is applied; 'failed' when a step could not be; 'cancelled' when another scenario replaced it. */
  status: 'running' | 'done' | 'failed' | 'cancelled';
  steps: ScenarioStepProgress[];
}

export interface ScenarioRun {
  /** Steps applied so far, with the sim time they were applied at. */
  readonly log: Array<{ atS: number; note: string; instance: number | 'all' }>;
  /** Resolves after the last step. */
  readonly done: Promise<void>;
  /** Every step and the time now, on the simulator's clock. */
  progress(): ScenarioProgress;
  cancel(): void;
}

type Clocked = SimFleet & { at?: (atS: number, fn: () => void) => void; simS?: number; speedup?: number };

/** Schedule a scenario's faults on a running fleet. */
export function runScenario(fleet: SimFleet, name: string | Scenario, opts: { onStep?: (step: ScenarioStep) => void } = {}): ScenarioRun {
  const s = typeof name === 'string' ? getScenario(name) : name;
  const f = fleet as Clocked;
  const log: ScenarioRun['log'] = [];
  let cancelled = false;
  let remaining = s.steps.length;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const timers: NodeJS.Timeout[] = [];
  const simClock = !!f.at && typeof f.simS === 'number';
  const t0 = simClock ? (f.simS as number) : 0;
  const wall0 = Date.now();
  /** Scenario time now: the simulator's own clock, or (SITL) the wall clock scaled by its speedup. */
  const nowS = () => (simClock ? (f.simS as number) - t0 : ((Date.now() - wall0) / 1000) * (f.speedup ?? 1));
  let cancelledAtS = 0;
  const steps: ScenarioStepProgress[] = s.steps.map((st, i) => ({ n: st.n ?? i, atS: st.atS, note: st.note, state: 'pending' }));
  const apply = (step: ScenarioStep, i: number) => {
    if (cancelled) return;
    const atS = step.atS;
    const p = steps[i];
    p.appliedAtS = Math.round(nowS() * 10) / 10;
    p.state = 'done';
    const targets = step.instance === undefined || step.instance === 'all' ? fleet.instances : fleet.instances.filter((i) => i.index === step.instance);
    for (const inst of targets) {
      try {
        if (step.inject) inst.inject(step.inject);
        if (step.clear) inst.clearFault(step.clear);
      } catch (e) {
        log.push({ atS, note: `${step.note}: not applied (${(e as Error).message})`, instance: inst.index });
        p.state = 'failed';
        p.error = (e as Error).message;
        continue;
      }
    }
    log.push({ atS, note: step.note, instance: step.instance ?? 'all' });
    opts.onStep?.(step);
    if (--remaining === 0) resolveDone();
  };
  if (s.steps.length === 0) resolveDone();
  if (simClock) {
    s.steps.forEach((step, i) => f.at!(t0 + step.atS, () => apply(step, i)));
  } else {
    const speedup = f.speedup ?? 1;
    s.steps.forEach((step, i) => {
      const t = setTimeout(() => apply(step, i), (step.atS / speedup) * 1000);
      t.unref?.();
      timers.push(t);
    });
  }
  return {
    log,
    done,
    progress() {
      const finished = steps.every((x) => x.state !== 'pending');
      const status = cancelled ? 'cancelled' : steps.some((x) => x.state === 'failed') ? 'failed' : finished ? 'done' : 'running';
      // A scenario's clock stops at its last step, or when another replaced it.
      const simS = cancelled ? cancelledAtS : finished ? steps.reduce((m, x) => Math.max(m, x.appliedAtS ?? 0), 0) : nowS();
      return { name: s.name, simS: Math.round(simS * 10) / 10, status, steps: steps.map((x) => ({ ...x })) };
    },
    cancel() {
      if (!cancelled) cancelledAtS = nowS();
      cancelled = true;
      for (const t of timers) clearTimeout(t);
      resolveDone();
    },
  };
}
