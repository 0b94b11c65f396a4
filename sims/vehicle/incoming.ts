/**
 * Messages the simulated vehicle receives: heartbeats, parameters (list, read, set), time sync, mode,
 * guided targets, mission current, signing set-up and data-stream requests; the rest to the mission server.
 */
import type { MavLinkData } from 'mavlink-mappings';
import { msg, common } from '../../src/mavlink/registry';
import type { Frame as MavFrame } from '../../src/mavlink/codec';
import { decodeMode } from '../modes';
import type { SimLink } from '../link';
import { SEV } from './constants';
import type { VehicleState } from './state';
import { onCommand } from './commands';
import { fenceEnabled, fenceViolation } from './fence';
import { setMode } from './flight-modes';
import { missionItems, advanceTo } from './mission';

export function onFrame(v: VehicleState, link: SimLink, f: MavFrame): void {
  if (!f.data) return;
  const d = f.data as unknown as Record<string, unknown>;
  const target = d.targetSystem as number | undefined;
  if (target !== undefined && target !== 0 && target !== v.sysid) return;
  switch (f.name) {
    case 'HEARTBEAT': {
      const gcsSysid = v.ap ? v.p('MAV_GCS_SYSID') : -1;
      const isGcs = v.ap ? f.sysid === gcsSysid : (d.type as number) === 6;
      if (isGcs) {
        v.gcsSeen = true;
        v.lastGcsHbS = v.tS;
      }
      return;
    }
    case 'COMMAND_LONG':
    case 'COMMAND_INT':
      onCommand(v, link, f);
      return;
    case 'PARAM_REQUEST_LIST':
      for (let i = 0; i < v.params.count; i++) v.paramQueue.push({ link, index: i });
      return;
    case 'PARAM_REQUEST_READ': {
      const idx = d.paramIndex as number;
      const name = String(d.paramId ?? '').replace(/\0.*$/, '');
      const i = idx >= 0 ? idx : v.params.indexOf(name);
      if (i >= 0 && i < v.params.count) link.send(paramValue(v, i));
      return; // unknown name: no reply at all, as on ArduPilot
    }
    case 'PARAM_SET': {
      const name = String(d.paramId ?? '').replace(/\0.*$/, '');
      if (!v.params.has(name)) return;
      const value = decodeParamValue(v, name, d.paramValue as number, d.paramType as number);
      v.params.set(name, value);
      paramChanged(v, name);
      v.broadcast(paramValue(v, v.params.indexOf(name)));
      return;
    }
    case 'TIMESYNC': {
      const tc1 = d.tc1 as bigint;
      if (tc1 === 0n) link.send(msg(common.TimeSync, { tc1: BigInt(Math.round(v.tS * 1e9)), ts1: d.ts1 as bigint }));
      return;
    }
    case 'SET_MODE': {
      const m = decodeMode(v.personality, d.customMode as number);
      if (m) setMode(v, m);
      return;
    }
    case 'SET_POSITION_TARGET_GLOBAL_INT': {
      if (v.mode !== 'GUIDED' || !v.flying) return;
      const ll = { lat: (d.latInt as number) / 1e7, lon: (d.lonInt as number) / 1e7 };
      const p = v.frame.toNe(ll);
      const frameId = d.coordinateFrame as number;
      const u = frameId === 5 || frameId === 0 ? (d.alt as number) - v.originAmslM : (d.alt as number);
      if (fenceEnabled(v) && fenceViolation(v, p, u)) return;
      v.guidedTarget = { n: p.n, e: p.e, u };
      return;
    }
    case 'MISSION_SET_CURRENT': {
      const seq = d.seq as number;
      if (seq < missionItems(v).length) {
        v.missionSeq = seq;
        if (v.mode === 'AUTO' && (v.flying || v.autoArmed)) advanceTo(v, seq);
        v.broadcast(msg(common.MissionCurrent, { seq }));
      }
      return;
    }
    case 'SETUP_SIGNING': {
      if (!v.ap) return;
      const r = v.signing.setup(d.secretKey as number[], d.initialTimestamp as bigint, v.armed, v.links);
      if (r === 'refused-armed') v.text(SEV.WARNING, "ERROR: Won't setup signing when armed");
      return;
    }
    case 'REQUEST_DATA_STREAM': {
      const rate = d.reqMessageRate as number;
      const on = (d.startStop as number) === 1 && rate > 0;
      for (const id of [1, 24, 30, 33, 36, 42, 74, 147, 193, 245, 162]) {
        if (on) link.intervals.set(id, { intervalS: 1 / rate, nextS: v.tS });
        else link.intervals.delete(id);
      }
      return;
    }
    default:
      v.mission.handle(link, f);
  }
}

export function paramChanged(v: VehicleState, name: string): void {
  if (name === 'SIM_GPS1_ENABLE') v.gpsLostSinceS = -1;
}

export function paramValue(v: VehicleState, i: number): MavLinkData {
  const p = v.params.byIndex(i)!;
  let value = p.value;
  if (!v.ap && p.type === 6) {
    // PX4 sends integers bytewise in the float field.
    const b = Buffer.alloc(4);
    b.writeInt32LE(Math.round(p.value));
    value = b.readFloatLE(0);
  }
  return msg(common.ParamValue, { paramId: p.name, paramValue: value, paramType: p.type, paramCount: v.params.count, paramIndex: i });
}
export function decodeParamValue(v: VehicleState, name: string, value: number, type: number): number {
  if (!v.ap && v.params.typeOf(name) === 6 && type === 6) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(value);
    return b.readInt32LE(0);
  }
  return value;
}
export function drainParamQueue(v: VehicleState): void {
  for (let n = 0; n < 10 && v.paramQueue.length > 0; n++) {
    const q = v.paramQueue.shift()!;
    if (v.links.has(q.link)) q.link.send(paramValue(v, q.index));
  }
}
