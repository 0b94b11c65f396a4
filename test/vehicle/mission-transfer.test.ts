import { common } from 'mavlink-mappings';
import { msg } from '../../src/mavlink/registry';
import { MissionTransfer, compareItems, missionResultCode, verificationWindow, ARDUPILOT_DOWNLOAD_WINDOW, ARDUPILOT_FAST_DOWNLOAD_WINDOW } from '../../src/vehicle/mission-transfer';
import { MissionItem, MissionType, Frame as MavFrame, Cmd } from '../../src/mavlink/mission-item';
import { Bench } from './harness';
import { MissionPeer, PeerKnobs } from './mission-peer';

const HOME = { lat: 340610000, lon: 1143900000 };

function wp(seq: number, cmd: number = Cmd.NAV_WAYPOINT, over: Partial<MissionItem> = {}): MissionItem {
  return { seq, frame: MavFrame.GLOBAL_RELATIVE_ALT_INT, command: cmd, param1: 0, param2: 0, param3: 0, param4: 0, x: HOME.lat + seq * 1234, y: HOME.lon + seq * 987, z: 30 + seq * 0.1, ...over };
}

/** An ArduPilot-style mission: item 0 home placeholder, takeoff, waypoints, land. */
function mission(n: number): MissionItem[] {
  const items = [wp(0, Cmd.NAV_WAYPOINT, { frame: MavFrame.GLOBAL, z: 0 }), wp(1, Cmd.NAV_TAKEOFF, { x: 0, y: 0, z: 20 })];
  for (let i = 2; i < n - 1; i++) items.push(wp(i));
  items.push(wp(n - 1, Cmd.NAV_LAND, { z: 0 }));
  return items;
}

function fence(): MissionItem[] {
  const ring = [
    [340600000, 1143890000],
    [340600000, 1143910000],
    [340620000, 1143910000],
    [340620000, 1143890000],
  ];
  return ring.map(([x, y], i) => ({ seq: i, frame: MavFrame.GLOBAL_INT, command: Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, param1: 4, param2: 0, param3: 0, param4: 0, x, y, z: 0, missionType: 1 }));
}

function setup(knobs: PeerKnobs = {}, opts = {}) {
  const b = new Bench();
  const t = new MissionTransfer(b.deps(), opts);
  b.sink = (f) => t.handle(f);
  const peer = new MissionPeer(b, knobs);
  return { b, t, peer };
}

const sentItems = (b: Bench) => b.sent.filter((f) => f.name === 'MISSION_ITEM_INT').map((f) => (f.data as common.MissionItemInt).seq);

describe('mission transfer: upload', () => {
  test('happy path answering legacy MISSION_REQUEST (#40) with MISSION_ITEM_INT, progress k of n', async () => {
    const { b, t, peer } = setup({ legacyRequest: true });
    const items = mission(10);
    const progress: number[] = [];
    const r = await b.run(t.upload(MissionType.MISSION, items, { onProgress: (p) => progress.push(p.done) }));
    expect(r).toMatchObject({ ok: true, items: 10, retries: 0 });
    expect(b.sent[0].name).toBe('MISSION_COUNT');
    expect(b.sent[0].data).toMatchObject({ count: 10, missionType: 0, targetSystem: 1, targetComponent: 1 });
    expect(sentItems(b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(progress).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const it3 = b.sent.find((f) => f.name === 'MISSION_ITEM_INT' && (f.data as common.MissionItemInt).seq === 3)!.data as common.MissionItemInt;
    expect(it3).toMatchObject({ x: items[3].x, y: items[3].y, frame: 6, command: 16, missionType: 0, autocontinue: 1 });
    expect(peer.stored[0].map((i) => i.x)).toEqual(items.map((i) => i.x));
  });

  test('happy path with MISSION_REQUEST_INT, fence and rally types', async () => {
    const { b, t, peer } = setup({ legacyRequest: false });
    expect((await b.run(t.upload(MissionType.FENCE, fence()))).ok).toBe(true);
    const rally = [wp(0, Cmd.NAV_RALLY_POINT, { missionType: 2 }), wp(1, Cmd.NAV_RALLY_POINT, { missionType: 2 })];
    expect((await b.run(t.upload(MissionType.RALLY, rally))).ok).toBe(true);
    expect(peer.stored[1]).toHaveLength(4);
    expect(peer.stored[2]).toHaveLength(2);
    expect(b.sent.filter((f) => f.name === 'MISSION_ITEM_INT').every((f) => [1, 2].includes((f.data as common.MissionItemInt).missionType))).toBe(true);
  });

  test('no answer to MISSION_COUNT at all → TIMEOUT after 1 + 5 tries at 1.5 s', async () => {
    const { b, t } = setup({ silent: true });
    const start = b.clock.now();
    const r = await b.run(t.upload(MissionType.MISSION, mission(5)));
    expect(r).toMatchObject({ ok: false, code: 'TIMEOUT' });
    expect(b.names()).toEqual(Array(6).fill('MISSION_COUNT'));
    expect(b.clock.now() - start).toBeGreaterThanOrEqual(9000);
    expect(t.busy).toBe(false);
  });

  test('first MISSION_COUNT lost → resent, then completes', async () => {
    const { b, t } = setup({ drop: (name, dir, n) => dir === 'in' && n === 0 });
    const r = await b.run(t.upload(MissionType.MISSION, mission(4)));
    expect(r).toMatchObject({ ok: true, retries: 1 });
    expect(b.names().slice(0, 2)).toEqual(['MISSION_COUNT', 'MISSION_COUNT']);
  });

  test('first request lost → the vehicle re-requests after 1 s / we resend the count', async () => {
    const { b, t } = setup({ drop: (name, dir, n) => dir === 'out' && n === 0 });
    const r = await b.run(t.upload(MissionType.MISSION, mission(4)));
    expect(r.ok).toBe(true);
  });

  test('final ACK lost → last item resent; verify-by-download settles it', async () => {
    const items = mission(5);
    let dropped = 0;
    const { b, t, peer } = setup({
      drop: (name, dir) => {
        if (dir === 'out' && name === 'MISSION_ACK' && dropped === 0 && peer.stored[0].length > 0) return ++dropped === 1;
        return false;
      },
    });
    peer.knobs.home = { ...items[0], x: HOME.lat, y: HOME.lon, z: 120 };
    const r = await b.run(t.uploadVerified(MissionType.MISSION, items, { autopilot: 'ardupilot' }));
    expect(r).toMatchObject({ ok: true, items: 5 });
    expect(dropped).toBe(1);
    // The last item went out again after the silence, then the download confirmed the mission.
    expect(sentItems(b).filter((s) => s === 4).length).toBeGreaterThanOrEqual(2);
    expect(b.names()).toContain('MISSION_REQUEST_LIST');
  });

  test('final ACK lost and verification off → TIMEOUT, not success', async () => {
    const { b, t } = setup({ drop: (name, dir) => dir === 'out' && name === 'MISSION_ACK' });
    const r = await b.run(t.uploadVerified(MissionType.MISSION, mission(3), { verify: false }));
    expect(r).toMatchObject({ ok: false, code: 'TIMEOUT' });
  });

  test('duplicated requests are answered; the INVALID_SEQUENCE ack they cause is not final', async () => {
    const { b, t, peer } = setup({ duplicateRequests: true });
    const items = mission(6);
    const r = await b.run(t.upload(MissionType.MISSION, items));
    expect(r.ok).toBe(true);
    expect(sentItems(b).length).toBeGreaterThanOrEqual(12);
    expect(peer.stored[0]).toHaveLength(6);
  });

  test('out-of-order requests are answered as asked', async () => {
    const { b, t, peer } = setup({ order: [0, 2, 1, 4, 3, 5] });
    const items = mission(6);
    const r = await b.run(t.upload(MissionType.MISSION, items));
    expect(r.ok).toBe(true);
    expect(sentItems(b)).toEqual([0, 2, 1, 4, 3, 5]);
    expect(peer.stored[0].map((i) => i.seq)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test.each([
    [1, 'MISSION_ERROR'],
    [2, 'UNSUPPORTED_FRAME'],
    [3, 'UNSUPPORTED'],
    [4, 'NO_SPACE'],
    [5, 'INVALID_PARAM'],
    [10, 'INVALID_PARAM'],
    [13, 'INVALID_SEQUENCE'],
    [14, 'DENIED'],
    [15, 'CANCELLED'],
  ])('ACK %d at MISSION_COUNT → %s', async (result, code) => {
    const { b, t } = setup({ rejectCount: result });
    const r = await b.run(t.upload(MissionType.MISSION, mission(4)));
    expect(r).toMatchObject({ ok: false, code });
    if (!r.ok) expect(r.message).toMatch(/mission upload/);
  });

  test.each([
    [2, 'UNSUPPORTED_FRAME'],
    [3, 'UNSUPPORTED'],
    [10, 'INVALID_PARAM'],
  ])('ACK %d for one item → %s', async (result, code) => {
    const { b, t } = setup({ rejectItem: { seq: 2, result } });
    const r = await b.run(t.upload(MissionType.MISSION, mission(5)));
    expect(r).toMatchObject({ ok: false, code });
  });

  test('fence validation failure after the last item → MISSION_ERROR', async () => {
    const { b, t } = setup({ finalAck: 1 });
    const r = await b.run(t.upload(MissionType.FENCE, fence()));
    expect(r).toMatchObject({ ok: false, code: 'MISSION_ERROR' });
  });

  test('vehicle stops requesting mid-upload → resends back off, TIMEOUT naming the stalled item after 9 s of silence', async () => {
    const { b, t } = setup({ drop: (name, dir, n) => dir === 'out' && n >= 2 });
    const start = b.clock.now();
    const r = await b.run(t.upload(MissionType.MISSION, mission(6)));
    expect(r).toMatchObject({ ok: false, code: 'TIMEOUT' });
    if (!r.ok) expect(r.message).toMatch(/stalled at item 1 of 6/);
    const items = sentItems(b);
    expect(items.slice(0, 2)).toEqual([0, 1]);
    // Each resend carries the last item asked for and the next one (its request may have been lost).
    expect(items.slice(2, 6)).toEqual([1, 2, 1, 2]);
    expect(items.length).toBeLessThan(40); // backing off from 20 ms ×1.5 per miss to 1.5 s
    const elapsed = b.clock.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(9000);
    expect(elapsed).toBeLessThan(11000);
    expect(t.busy).toBe(false);
  });

  test('a lost request is recovered by the speculative next item faster than the vehicle re-requests', async () => {
    // The vehicle's request for item 3 is lost once; its own re-request would come after 1 s.
    let dropped = false;
    const { b, t, peer } = setup({
      drop: (name, dir) => {
        if (dir === 'out' && name === 'MISSION_REQUEST' && !dropped && peer.requestsSent === 4) return (dropped = true);
        return false;
      },
    });
    const start = b.clock.now();
    const r = await b.run(t.upload(MissionType.MISSION, mission(6)), 5);
    expect(r.ok).toBe(true);
    expect(dropped).toBe(true);
    expect(b.clock.now() - start).toBeLessThan(1000);
  });

  test('ArduPilot: an item sent ahead was taken and the request after it lost too → the next resend reaches past it, well before the vehicle asks again', async () => {
    // The requests for items 3 and 4 are both lost (the 4th and 5th requests the vehicle sends).
    const lost = new Set<number>();
    const { b, t, peer } = setup({
      drop: (name, dir) => {
        const k = peer.requestsSent;
        if (dir === 'out' && name === 'MISSION_REQUEST' && (k === 4 || k === 5) && !lost.has(k)) return lost.add(k), true;
        return false;
      },
    });
    const start = b.clock.now();
    const r = await b.run(t.upload(MissionType.MISSION, mission(8), { autopilot: 'ardupilot' }), 5);
    expect(r.ok).toBe(true);
    expect(lost.size).toBe(2);
    expect(b.clock.now() - start).toBeLessThan(1000); // the vehicle's own re-request would come after 1 s
    expect(peer.stored[0].map((i) => i.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('the vehicle cancels an upload it waited too long for (OPERATION_CANCELLED) → the upload starts again from MISSION_COUNT and completes', async () => {
    // Everything from the vehicle is lost for 8.5 s after its third request: it gives up (8 s) and cancels.
    let cutFrom = -1;
    const { b, t, peer } = setup({
      drop: (name, dir) => {
        if (dir === 'in' && cutFrom < 0 && peer.requestsSent === 3) cutFrom = b.clock.now();
        return dir === 'in' && cutFrom >= 0 && b.clock.now() - cutFrom < 8500;
      },
    });
    const items = mission(6);
    const r = await b.run(t.upload(MissionType.MISSION, items));
    expect(r).toMatchObject({ ok: true, items: 6 });
    expect(b.names().filter((n) => n === 'MISSION_COUNT').length).toBeGreaterThanOrEqual(2);
    expect(peer.stored[0].map((i) => i.seq)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('a second transfer while one runs → BUSY', async () => {
    const { b, t } = setup({});
    const p1 = t.upload(MissionType.MISSION, mission(3));
    const r2 = await t.download(MissionType.FENCE);
    expect(r2).toMatchObject({ ok: false, code: 'BUSY' });
    expect((await b.run(p1)).ok).toBe(true);
  });

  test('lossy link: every 10th message each way dropped, upload and download still identical', async () => {
    const { b, t, peer } = setup({ drop: (_name, _dir, n) => n % 10 === 9 });
    const items = mission(40);
    peer.knobs.home = { ...items[0], x: HOME.lat, y: HOME.lon, z: 123 };
    const r = await b.run(t.uploadVerified(MissionType.MISSION, items, { autopilot: 'ardupilot' }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.retries).toBeGreaterThan(0);
    const down = await b.run(t.download(MissionType.MISSION));
    expect(down.ok).toBe(true);
    if (down.ok) {
      expect(down.items.slice(1).map((i) => [i.command, i.x, i.y, i.z])).toEqual(items.slice(1).map((i) => [i.command, i.x, i.y, Math.fround(i.z)]));
    }
  });
});

describe('mission transfer: download and clear', () => {
  test('download: REQUEST_LIST → COUNT → REQUEST_INT/ITEM_INT each → we ACK', async () => {
    const { b, t, peer } = setup({});
    peer.stored[1] = fence();
    const progress: string[] = [];
    const r = await b.run(t.download(MissionType.FENCE, { onProgress: (p) => progress.push(`${p.done}/${p.total}`) }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.items.map((i) => i.x)).toEqual(fence().map((i) => i.x));
    expect(b.names()).toEqual(['MISSION_REQUEST_LIST', 'MISSION_REQUEST_INT', 'MISSION_REQUEST_INT', 'MISSION_REQUEST_INT', 'MISSION_REQUEST_INT', 'MISSION_ACK']);
    expect(b.sent[5].data).toMatchObject({ type: 0, missionType: 1 });
    expect(progress).toEqual(['0/4', '1/4', '2/4', '3/4', '4/4']);
  });

  test('download with a window: up to 4 requests outstanding; a lost item is asked for again; items in order', async () => {
    const { b, t, peer } = setup({ drop: (name, dir, n) => dir === 'out' && name === 'MISSION_ITEM_INT' && n === 3 });
    peer.stored[0] = mission(10);
    const r = await b.run(t.download(MissionType.MISSION, { window: 4 }));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.items.map((i) => i.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(r.retries).toBeGreaterThan(0);
    }
    const requests = b.sent.filter((f) => f.name === 'MISSION_REQUEST_INT').map((f) => (f.data as common.MissionRequestInt).seq);
    expect(requests.slice(0, 4)).toEqual([0, 1, 2, 3]); // the window opens at once
    expect(requests.filter((s) => s === 2).length).toBe(2); // the lost one, asked again
    expect(b.names().at(-1)).toBe('MISSION_ACK');
  });

  test('a stray ERROR ack (answering a resend of the upload just finished) does not end a download; repeated ones do', async () => {
    const { b, t, peer } = setup({});
    peer.stored[1] = fence();
    const stray = () => b.reply(msg(common.MissionAck, { targetSystem: 255, targetComponent: 190, type: 1, missionType: 1 }));
    stray();
    const r = await b.run(t.download(MissionType.FENCE, { window: 4 }));
    expect(r.ok && r.items.length).toBe(4);
    const silent = setup({ silent: true });
    const p = silent.t.download(MissionType.FENCE);
    for (let i = 0; i < 3; i++) silent.b.reply(msg(common.MissionAck, { targetSystem: 255, targetComponent: 190, type: 1, missionType: 1 }));
    expect(await silent.b.run(p)).toMatchObject({ ok: false, code: 'MISSION_ERROR' });
  });

  test('ArduPilot upload: each request is answered with the item asked for and the next one; a clean upload sends every item once', async () => {
    const { b, t, peer } = setup({});
    const r = await b.run(t.upload(MissionType.MISSION, mission(10), { autopilot: 'ardupilot' }));
    expect(r).toMatchObject({ ok: true, items: 10, retries: 0 });
    expect(sentItems(b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // items 0 and 1 leave together, before the vehicle asked for 1
    expect(b.names().slice(0, 3)).toEqual(['MISSION_COUNT', 'MISSION_ITEM_INT', 'MISSION_ITEM_INT']);
    expect(peer.stored[0].map((i) => i.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('verification download: ArduPilot keeps 32 requests outstanding on a fast link, 4 on a radio; PX4 one', async () => {
    expect(verificationWindow('ardupilot', 6)).toBe(ARDUPILOT_FAST_DOWNLOAD_WINDOW);
    expect(verificationWindow('ardupilot', 120)).toBe(ARDUPILOT_DOWNLOAD_WINDOW);
    expect(verificationWindow('ardupilot', undefined)).toBe(ARDUPILOT_DOWNLOAD_WINDOW);
    expect(verificationWindow('px4', 6)).toBe(1);
    // end to end on the bench (round trips of 0 ms): when the first item comes back, 32 requests are out
    const { b, t } = setup({});
    let outstandingAtFirst = -1;
    const sink = b.sink;
    b.sink = (f) => {
      if (f.name === 'MISSION_ITEM_INT' && outstandingAtFirst < 0) outstandingAtFirst = b.sent.filter((x) => x.name === 'MISSION_REQUEST_INT').length;
      sink(f);
    };
    const r = await b.run(t.uploadVerified(MissionType.MISSION, mission(40), { autopilot: 'ardupilot' }));
    expect(r).toMatchObject({ ok: true, items: 40 });
    expect(outstandingAtFirst).toBe(32);
  });

  test('download of an empty list ACKs at once', async () => {
    const { b, t } = setup({});
    const r = await b.run(t.download(MissionType.RALLY));
    expect(r).toMatchObject({ ok: true, items: [] });
    expect(b.names()).toEqual(['MISSION_REQUEST_LIST', 'MISSION_ACK']);
  });

  test('download: lost COUNT and lost items are re-requested', async () => {
    const { b, t, peer } = setup({ drop: (name, dir, n) => dir === 'out' && (n === 0 || n === 3) });
    peer.stored[0] = mission(6);
    const r = await b.run(t.download(MissionType.MISSION));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.items).toHaveLength(6);
    expect(b.names().filter((n) => n === 'MISSION_REQUEST_LIST')).toHaveLength(2);
  });

  test('download from a vehicle that never answers → TIMEOUT', async () => {
    const { b, t } = setup({ silent: true });
    const r = await b.run(t.download(MissionType.MISSION));
    expect(r).toMatchObject({ ok: false, code: 'TIMEOUT' });
  });

  test('download while the vehicle is busy uploading → DENIED', async () => {
    const { b, t, peer } = setup({});
    peer.stored[0] = mission(3);
    // Start an upload on the peer directly that never finishes from its side.
    b.peer({ name: 'MISSION_COUNT', data: Object.assign(new common.MissionCount(), { count: 5, missionType: 0, targetSystem: 1, targetComponent: 1 }) } as never);
    const r = await b.run(t.download(MissionType.MISSION));
    expect(r).toMatchObject({ ok: false, code: 'DENIED' });
  });

  test('clear sends MISSION_CLEAR_ALL with the type and waits for the ACK', async () => {
    const { b, t, peer } = setup({});
    peer.stored[2] = [wp(0, Cmd.NAV_RALLY_POINT)];
    const r = await b.run(t.clear(MissionType.RALLY));
    expect(r.ok).toBe(true);
    expect(b.sent[0].name).toBe('MISSION_CLEAR_ALL');
    expect(b.sent[0].data).toMatchObject({ missionType: 2 });
    expect(peer.stored[2]).toEqual([]);
    const mute = setup({ silent: true });
    expect(await mute.b.run(mute.t.clear(MissionType.MISSION))).toMatchObject({ ok: false, code: 'TIMEOUT' });
  });
});

describe('mission compare', () => {
  const items = mission(6);
  test('tolerates home at item 0 on ArduPilot, frame changes of DO items, normalised params, float rounding', () => {
    const got = items.map((i) => ({ ...i, z: Math.fround(i.z) }));
    got[0] = { ...got[0], x: 1, y: 2, z: 500 };
    got[3] = { ...got[3], param3: 1, param4: 1 };
    expect(compareItems(items, got, { autopilot: 'ardupilot', type: 0 })).toBeUndefined();
    const grip = [...items.slice(0, 5), { seq: 5, frame: 3, command: Cmd.DO_GRIPPER, param1: 1, param2: 0, param3: 0, param4: 0, x: 0, y: 0, z: 0 }];
    const gripBack = grip.map((i) => ({ ...i }));
    gripBack[5].frame = 0;
    expect(compareItems(grip, gripBack, { autopilot: 'ardupilot', type: 0 })).toBeUndefined();
  });

  test('finds a moved waypoint, a wrong altitude, a missing item; PX4 compares item 0', () => {
    const moved = items.map((i) => ({ ...i }));
    moved[2].x += 2;
    expect(compareItems(items, moved, { autopilot: 'ardupilot', type: 0 })?.seq).toBe(2);
    const high = items.map((i) => ({ ...i }));
    high[4].z += 1;
    expect(compareItems(items, high, { autopilot: 'ardupilot', type: 0 })?.message).toMatch(/altitude/);
    expect(compareItems(items, items.slice(1), { autopilot: 'ardupilot', type: 0 })?.message).toMatch(/holds 5 items/);
    const home = items.map((i) => ({ ...i }));
    home[0].x = 5;
    expect(compareItems(items, home, { autopilot: 'px4', type: 0 })?.seq).toBe(0);
  });

  test('MAV_MISSION_RESULT mapping', () => {
    expect([0, 1, 2, 3, 4, 5, 11, 13, 14, 15].map(missionResultCode)).toEqual(['MISSION_ERROR', 'MISSION_ERROR', 'UNSUPPORTED_FRAME', 'UNSUPPORTED', 'NO_SPACE', 'INVALID_PARAM', 'INVALID_PARAM', 'INVALID_SEQUENCE', 'DENIED', 'CANCELLED']);
  });
});
