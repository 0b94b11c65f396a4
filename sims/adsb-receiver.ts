/**
 * A MAVLink ADS-B receiver for ArduPilot SITL, reporting the aircraft the trainer places: the
 * deterministic model of the built-in simulator's 'adsb-traffic' fault (sims/adsb-traffic.ts), fed
 * to the autopilot as a uAvionix-style receiver (pingRX) on one of its serial ports would.
 *
 * ArduPilot side (AP_ADSB with ADSB_TYPE 1, uAvionix MAVLink): any MAVLink serial port
 * (SERIALn_PROTOCOL 1 or 2) takes ADSB_VEHICLE from any system/component other than the autopilot
 * itself (its own sysid with compid 1 is dropped as a loop-back); with the GCS sysid enforced
 * (MAV_GCS_SYSID option) only its own sysid and the GCS's are accepted, so the receiver speaks as a
 * component of the vehicle: the vehicle's sysid, compid 156 (MAV_COMP_ID_ADSB), as ArduPilot's own
 * simulated receiver does. AP_ADSB keeps a report when its flags have VALID_COORDS or VALID_ALTITUDE,
 * its ICAO address fits 24 bits, lat/lon are not both 0, it lies within ADSB_LIST_RADIUS of the
 * vehicle (2 km by default on Copter) and within ADSB_LIST_ALT vertically (0: any), and its age
 * (tslc) is under 5 s; it forgets an aircraft not reported for 5 s of the autopilot's clock, and it
 * sends the list to the ground stations on their ADSB stream (message 246), not by routing. A
 * HEARTBEAT (MAV_TYPE_ADSB, MAV_AUTOPILOT_INVALID) once a second is not needed by the autopilot but
 * is what a receiver sends; ArduPilot forwards it to its ground stations, which must not take it for
 * an autopilot.
 *
 * Time is the autopilot's: `clockS` gives SITL's simulated seconds (its time_boot_ms, monotonic across
 * reboots), so each aircraft is reported once per simulated second and flies at its speed in the
 * vehicle's time whatever SITL's speed-up. SITL connects out to the receiver (`tcpclient:127.0.0.1:PORT`,
 * the server listens on loopback only) and connects again after a reboot.
 */
import * as net from 'net';
import { MavlinkDecoder, MavlinkEncoder } from '../src/mavlink/codec';
import { msg, minimal } from '../src/mavlink/registry';
import { SimAdsbTraffic, type AdsbTrafficFault, type OwnShip } from './adsb-traffic';

/** MAV_COMP_ID_ADSB */
export const ADSB_COMPID = 156;
/** MAV_TYPE_ADSB */
const MAV_TYPE_ADSB = 27;
/** MAV_AUTOPILOT_INVALID */
const MAV_AUTOPILOT_INVALID = 8;

/**
 * Parameters an ArduPilot vehicle needs to hear the receiver on SERIAL1: AP_ADSB on with the
 * uAvionix MAVLink backend, SERIAL1 speaking MAVLink 2, and the list radius widened to 10 km so that
 * an aircraft is heard well before it comes within the traffic monitor's 2 km.
 */
export const ADSB_RECEIVER_PARAMS: Record<string, number> = {
  ADSB_TYPE: 1,
  SERIAL1_PROTOCOL: 2,
  ADSB_LIST_RADIUS: 10000,
};

export interface AdsbReceiverOptions {
  /** The vehicle's system id (the receiver is one of its components). */
  sysid: number;
  /** The autopilot's clock, s (null until known). */
  clockS: () => number | null;
  /** The vehicle as it reports itself now (null until it has a position). */
  ownShip: () => OwnShip | null;
  /** Wall ms between looks at the clock. Default 20 (a speed-up of 10 still sees every 0.2 s). */
  tickMs?: number;
}

export class AdsbReceiver {
  private server: net.Server | null = null;
  private sock: net.Socket | null = null;
  private readonly enc: MavlinkEncoder;
  private readonly traffic = new SimAdsbTraffic();
  private timer: NodeJS.Timeout | null = null;
  private nextHeartbeatS = 0;
  private lastS: number | null = null;
  port = 0;
  /** HEARTBEATs heard from the autopilot on this link (it sends one a second on every MAVLink port). */
  autopilotHeartbeats = 0;
  /** ADSB_VEHICLE reports sent. */
  reportsSent = 0;

  constructor(private readonly o: AdsbReceiverOptions) {
    this.enc = new MavlinkEncoder({ sysid: o.sysid, compid: ADSB_COMPID });
  }

  /** Listen on 127.0.0.1 (port 0: any free one); resolves with the port. */
  async listen(port = 0): Promise<number> {
    const srv = net.createServer((s) => this.accept(s));
    this.server = srv;
    this.port = await new Promise<number>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port));
    });
    this.timer = setInterval(() => this.tick(), this.o.tickMs ?? 20);
    this.timer.unref?.();
    return this.port;
  }

  get connected(): boolean {
    return !!this.sock && !this.sock.destroyed;
  }

  private accept(s: net.Socket): void {
    // One autopilot port: a new connection (SITL rebooted) replaces the old one.
    this.sock?.destroy();
    this.sock = s;
    s.setNoDelay(true);
    const dec = new MavlinkDecoder((f) => {
      if (f.name === 'HEARTBEAT' && f.sysid === this.o.sysid && f.compid === 1) this.autopilotHeartbeats++;
    });
    s.on('data', (b) => dec.push(b));
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.sock === s) this.sock = null;
    });
  }

  private write(m: Parameters<MavlinkEncoder['encode']>[0]): void {
    const s = this.sock;
    if (s && !s.destroyed && s.writable) s.write(this.enc.encode(m));
  }

  private tick(): void {
    const t = this.o.clockS();
    if (t === null) return;
    this.lastS = t;
    if (t >= this.nextHeartbeatS || this.nextHeartbeatS - t > 2) {
      this.nextHeartbeatS = t + 1;
      this.write(msg(minimal.Heartbeat, { type: MAV_TYPE_ADSB, autopilot: MAV_AUTOPILOT_INVALID, baseMode: 0, customMode: 0, systemStatus: 4 }));
    }
    for (const m of this.traffic.due(t)) {
      this.write(m);
      this.reportsSent++;
    }
  }

  /**
   * Place an aircraft (sims/adsb-traffic.ts). Throws Error naming a bad field, or when it is placed
   * across the vehicle's track and the vehicle has no position yet.
   */
  add(f: AdsbTrafficFault): void {
    const t = this.o.clockS() ?? this.lastS;
    if (t === null) throw new Error('adsb-traffic: the vehicle has not reported its clock yet');
    const own = this.o.ownShip();
    if (f.from === undefined && !own) throw new Error('adsb-traffic: the vehicle has no position yet (give from, headingDeg and altAmslM)');
    this.traffic.add(f, t, own ?? { latLon: { lat: 0, lon: 0 }, altAmslM: 0, vn: 0, ve: 0, yawDeg: 0 });
    // Heard at once, as the built-in simulator does.
    this.tick();
  }

  clear(): void {
    this.traffic.clear();
  }

  /** The aircraft reported now, as placed. */
  faults(): AdsbTrafficFault[] {
    return this.traffic.faults();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sock?.destroy();
    this.sock = null;
    const srv = this.server;
    this.server = null;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }
}
