/**
 * `dropline plan ZONES --launch NAME|LON,LAT --drop LON,LAT [--drop LON,LAT ...] [--order given|shortest]
 *  [--release gripper|winch|servo] [--profile FILE] [--wind SPEED_MPS,FROM_DEG]
 *  [--format json|plan|waypoints] [--clearance M] [--fence-capacity N]`
 * (`--fence-max-items` is the old name of `--fence-capacity`). A repeated `--drop` plans a sortie:
 * the first is the request's `drop`, the others its `stops` (1 kg each, like the first).
 *
 * Writes exactly one JSON document on stdout and returns the exit code: 0 with the plan, 2 with
 * `{ok: false, error: {code, message, details}}`. Logs go to stderr; never a stack trace.
 * ZONES is GeoJSON (.geojson/.json) or KML (.kml). Formats:
 *  - json: the plan as planDelivery returns it;
 *  - plan: a QGroundControl `.plan` document (mission, geoFence, rallyPoints);
 *  - waypoints: `{ok, format, files: {mission, fence, rally}, warnings}` where each file is the text
 *    of a QGC WPL 110 `.waypoints` file (Mission Planner keeps the three lists in separate files).
 * This is the planner's only module that touches the file system.
 */
import * as fs from 'fs';
import { planDelivery, type PlanOk } from './plan';
import { exportQgcPlan } from './qgc-plan';
import { exportWaypoints } from './waypoints';
import { kmlToZones } from './kml';

export interface PlanCliIo {
  /** Default: process.stdout.write. */
  stdout: (text: string) => void;
  /** Default: process.stderr.write. */
  stderr: (text: string) => void;
  /** Default: fs.readFileSync(path, 'utf8'). */
  readFile: (path: string) => string | Promise<string>;
}

export const PLAN_CLI_USAGE = `Usage: dropline plan ZONES.geojson|ZONES.kml --launch NAME|LON,LAT --drop LON,LAT
                     [--drop LON,LAT ...] [--order given|shortest] [--release gripper|winch|servo]
                     [--profile FILE] [--wind SPEED_MPS,FROM_DEG] [--format json|plan|waypoints]
                     [--clearance M] [--fence-capacity N]
  --drop: repeat it (up to 4) for a sortie, several drops in one flight; it needs --release servo and
          a profile with one release output per parcel ("releaseServos": [9, 10, ...]).
  --order: the order of a sortie's drops: as given (default) or the shortest route.
  --release: how parcels are released (default gripper).
  --fence-capacity: fence items the vehicle stores (default 60, ArduCopter).
  Writes one JSON document on stdout; exit 0 with the plan, 2 with {ok:false,error:{code,message,details}}.
  Launch names may contain spaces (quote them, or leave them unquoted after --launch).
`;

export type CliErrorCode = 'INVALID_ARGUMENTS' | 'FILE_NOT_FOUND' | 'FILE_UNREADABLE' | 'INVALID_JSON' | 'INVALID_KML' | 'KML_KIND_UNKNOWN' | 'INTERNAL_ERROR';

class CliError extends Error {
  constructor(readonly code: CliErrorCode, message: string, readonly details?: unknown) { super(message); }
}

interface CliArgs { zones: string; launch?: string; drop: [number, number]; stops?: [number, number][]; order?: 'given' | 'shortest'; release?: 'gripper' | 'winch' | 'servo'; profile?: string; wind?: { speedMps: number; fromDeg: number }; format: 'json' | 'plan' | 'waypoints'; clearanceM?: number; fenceCapacity?: number; help: boolean }

/** Warnings echoed on stderr; the plan on stdout carries all of them. */
const MAX_LOGGED_WARNINGS = 10;

const OPTIONS = ['launch', 'drop', 'order', 'release', 'profile', 'wind', 'format', 'clearance', 'fence-capacity', 'fence-max-items', 'help'] as const;

function pair(value: string, what: string, names: [string, string]): [number, number] {
  const m = /^\s*([^,\s]+)\s*,\s*([^,\s]+)\s*$/.exec(value);
  const a = m ? Number(m[1]) : NaN, b = m ? Number(m[2]) : NaN;
  if (!m || !Number.isFinite(a) || !Number.isFinite(b)) throw new CliError('INVALID_ARGUMENTS', `--${what} must be ${names[0]},${names[1]} (two numbers separated by a comma), got "${value}"`, { option: what, value });
  return [a, b];
}

/** Parses the arguments after `plan`. Exported for tests. */
export function parsePlanArgs(argv: string[]): CliArgs {
  const positionals: string[] = [];
  const values: Partial<Record<(typeof OPTIONS)[number], string>> = {};
  const drops: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { help = true; continue; }
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = (eq >= 0 ? a.slice(2, eq) : a.slice(2)) as (typeof OPTIONS)[number];
      if (!(OPTIONS as readonly string[]).includes(name) || name === 'help') throw new CliError('INVALID_ARGUMENTS', `unknown option ${a.split('=')[0]}`, { option: a });
      if (values[name] !== undefined && name !== 'drop') throw new CliError('INVALID_ARGUMENTS', `--${name} given twice`, { option: name });
      let v: string | undefined;
      if (eq >= 0) v = a.slice(eq + 1);
      else {
        if (i + 1 >= argv.length || (argv[i + 1].startsWith('--') && argv[i + 1].length > 2)) throw new CliError('INVALID_ARGUMENTS', `--${name} needs a value`, { option: name });
        v = argv[++i];
      }
      if (name === 'launch') {
        // an unquoted name with spaces arrives as several words: take them up to the next option,
        // leaving the last bare word as ZONES when no ZONES was given before
        const words: string[] = [];
        while (i + 1 < argv.length && !argv[i + 1].startsWith('-')) words.push(argv[++i]);
        if (positionals.length === 0 && words.length > 0 && /\.(geo)?json$|\.kml$/i.test(words[words.length - 1])) positionals.push(words.pop()!);
        if (words.length > 0) v = [v, ...words].join(' ');
      }
      if (name === 'drop') drops.push(v);
      values[name] = v;
      continue;
    }
    positionals.push(a);
  }
  if (help) return { zones: '', drop: [0, 0], format: 'json', help: true };
  if (positionals.length === 0) throw new CliError('INVALID_ARGUMENTS', 'missing ZONES file (GeoJSON or KML)');
  if (positionals.length > 1) throw new CliError('INVALID_ARGUMENTS', `one ZONES file expected, got ${positionals.length}: ${positionals.map((p) => `"${p}"`).join(', ')}`, { positionals });
  if (values.drop === undefined) throw new CliError('INVALID_ARGUMENTS', 'missing --drop LON,LAT');
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'plan' && format !== 'waypoints') throw new CliError('INVALID_ARGUMENTS', `--format must be json, plan or waypoints, got "${format}"`, { option: 'format', value: format });
  if (drops.length > 4) throw new CliError('INVALID_ARGUMENTS', `--drop given ${drops.length} times: a sortie takes at most 4 drops`, { option: 'drop', count: drops.length });
  const out: CliArgs = { zones: positionals[0], drop: pair(drops[0], 'drop', ['LON', 'LAT']), format, help: false };
  if (drops.length > 1) out.stops = drops.slice(1).map((d) => pair(d, 'drop', ['LON', 'LAT']));
  if (values.order !== undefined) {
    if (values.order !== 'given' && values.order !== 'shortest') throw new CliError('INVALID_ARGUMENTS', `--order must be given or shortest, got "${values.order}"`, { option: 'order', value: values.order });
    out.order = values.order;
  }
  if (values.release !== undefined) {
    if (values.release !== 'gripper' && values.release !== 'winch' && values.release !== 'servo') throw new CliError('INVALID_ARGUMENTS', `--release must be gripper, winch or servo, got "${values.release}"`, { option: 'release', value: values.release });
    out.release = values.release;
  }
  if (values.launch !== undefined) {
    if (values.launch.trim() === '') throw new CliError('INVALID_ARGUMENTS', '--launch is empty');
    out.launch = values.launch;
  }
  if (values.profile !== undefined) out.profile = values.profile;
  if (values.wind !== undefined) {
    const [speedMps, fromDeg] = pair(values.wind, 'wind', ['SPEED_MPS', 'FROM_DEG']);
    out.wind = { speedMps, fromDeg };
  }
  if (values.clearance !== undefined) {
    const c = Number(values.clearance);
    if (values.clearance.trim() === '' || !Number.isFinite(c)) throw new CliError('INVALID_ARGUMENTS', `--clearance must be a number of metres, got "${values.clearance}"`, { option: 'clearance' });
    out.clearanceM = c;
  }
  for (const name of ['fence-capacity', 'fence-max-items'] as const) {
    const v = values[name];
    if (v === undefined) continue;
    if (out.fenceCapacity !== undefined) throw new CliError('INVALID_ARGUMENTS', '--fence-capacity given twice (--fence-max-items is its old name)', { option: name });
    const n = Number(v);
    if (!Number.isInteger(n) || n < 3) throw new CliError('INVALID_ARGUMENTS', `--${name} must be an integer ≥ 3, got "${v}"`, { option: name });
    out.fenceCapacity = n;
  }
  return out;
}

/** A launch given as "LON,LAT" is a position; anything else is a launch-site name. */
function launchValue(v: string): string | [number, number] {
  if (/^\s*[+-]?[\d.]+(e[+-]?\d+)?\s*,\s*[+-]?[\d.]+(e[+-]?\d+)?\s*$/i.test(v)) return pair(v, 'launch', ['LON', 'LAT']);
  return v;
}

async function read(io: PlanCliIo, file: string, what: string): Promise<string> {
  try {
    return await io.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError('FILE_NOT_FOUND', `${what} file "${file}" does not exist`, { file });
    throw new CliError('FILE_UNREADABLE', `${what} file "${file}" cannot be read: ${code ?? (e as Error).message}`, { file, errno: code });
  }
}

function parseJson(text: string, file: string, what: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new CliError('INVALID_JSON', `${what} file "${file}" is not valid JSON: ${(e as Error).message}`, { file });
  }
}

async function loadZones(io: PlanCliIo, file: string): Promise<unknown> {
  const text = await read(io, file, 'zones');
  const looksKml = /\.kml$/i.test(file) || /^\s*(<\?xml[^>]*>\s*)?<kml[\s>]/i.test(text.replace(/^\uFEFF/, ''));
  if (!looksKml) return parseJson(text, file, 'zones');
  const k = kmlToZones(text);
  if (!k.ok) throw new CliError(k.error.code, `zones file "${file}": ${k.error.message}`, k.error.details);
  for (const w of k.warnings) io.stderr(`dropline plan: ${w.message}\n`);
  return k.zones;
}

export async function runPlanCli(argv: string[], io: Partial<PlanCliIo> = {}): Promise<number> {
  const out = io.stdout ?? ((s: string) => void process.stdout.write(s));
  const err = io.stderr ?? ((s: string) => void process.stderr.write(s));
  const full: PlanCliIo = { stdout: out, stderr: err, readFile: io.readFile ?? ((p: string) => fs.readFileSync(p, 'utf8')) };
  const fail = (code: string, message: string, details?: unknown): number => {
    out(JSON.stringify({ ok: false, error: details === undefined ? { code, message } : { code, message, details } }, null, 2) + '\n');
    err(`dropline plan: ${code}: ${message}\n`);
    return 2;
  };
  try {
    const args = parsePlanArgs(argv);
    if (args.help) {
      err(PLAN_CLI_USAGE);
      out(JSON.stringify({ ok: true, usage: PLAN_CLI_USAGE }) + '\n');
      return 0;
    }
    const zones = await loadZones(full, args.zones);
    let profile: unknown;
    if (args.profile !== undefined) {
      const p = parseJson(await read(full, args.profile, 'profile'), args.profile, 'profile');
      // accept a bare profile object or {profile: {...}}
      profile = p && typeof p === 'object' && !Array.isArray(p) && 'profile' in p ? (p as { profile: unknown }).profile : p;
    }
    const request: Record<string, unknown> = { drop: args.drop };
    if (args.stops) request.stops = args.stops.map((drop) => ({ drop }));
    if (args.order !== undefined) request.options = { orderStops: args.order };
    if (args.release !== undefined) request.payload = { release: args.release };
    if (args.launch !== undefined) request.launch = launchValue(args.launch);
    if (profile !== undefined) request.profile = profile;
    if (args.wind) request.wind = args.wind;
    if (args.clearanceM !== undefined) request.clearanceM = args.clearanceM;
    if (args.fenceCapacity !== undefined) request.fenceCapacity = args.fenceCapacity;
    const t0 = performance.now();
    const result = planDelivery(zones, request);
    const ms = performance.now() - t0;
    if (!result.ok) return fail(result.error.code, result.error.message, result.error.details);
    err(`dropline plan: ${summary(result)} in ${ms.toFixed(0)} ms\n`);
    for (const w of result.warnings.slice(0, MAX_LOGGED_WARNINGS)) err(`dropline plan: warning ${w.code}: ${w.message}\n`);
    if (result.warnings.length > MAX_LOGGED_WARNINGS) err(`dropline plan: ... and ${result.warnings.length - MAX_LOGGED_WARNINGS} more warnings (all of them are in the plan's "warnings")\n`);
    if (args.format === 'json') out(JSON.stringify(result, null, 2) + '\n');
    else if (args.format === 'plan') out(JSON.stringify(exportQgcPlan({ mission: result.mission, fence: result.fence, rally: result.rally }), null, 4) + '\n');
    else {
      const files = { mission: exportWaypoints(result.mission), fence: exportWaypoints(result.fence), rally: exportWaypoints(result.rally) };
      out(JSON.stringify({ ok: true, format: 'waypoints', files: { mission: files.mission.text, fence: files.fence.text, rally: files.rally.text }, warnings: [...result.warnings, ...files.mission.warnings, ...files.fence.warnings, ...files.rally.warnings] }, null, 2) + '\n');
    }
    return 0;
  } catch (e) {
    if (e instanceof CliError) return fail(e.code, e.message, e.details);
    return fail('INTERNAL_ERROR', `the plan could not be made: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
  }
}

function summary(p: PlanOk): string {
  const drops = p.dropOrder ? `${p.dropOrder.length} drops (order ${p.dropOrder.join(', ')}), ` : '';
  return `${drops}${p.route.geometry.coordinates.length} route points, ${(p.distanceM / 1000).toFixed(2)} km, ${(p.durationS / 60).toFixed(1)} min, ${p.energyWh.toFixed(0)} Wh (${p.mission.length} mission, ${p.fence.length} fence, ${p.rally.length} rally items)`;
}
