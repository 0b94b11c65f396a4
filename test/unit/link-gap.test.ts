/**
 * Why a job's record has a gap when a node takes it up (src/delivery/link-gap.ts): a restart or a
 * take-over by another node is `service-restarted` (the node that ran it stopped following it: it
 * restarted, failed, or lost its database connection); the same node taking a job back after losing
 * its lease with the database connection is `lease-regained`, unless another node took the job over
 * in between. The taking node names itself on the entry it writes.
 */
import { openGap, takeOverReason, takenUpBy } from '../../src/delivery/link-gap';
import type { TimelineEntry } from '../../src/delivery/types';

const T0 = Date.parse('2025-03-01T10:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

/** A job in flight as this node wrote it before the database went away at T0 + 60 s. */
const flown: TimelineEntry[] = [
  { at: at(0), state: 'requested' },
  { at: at(5), state: 'planned' },
  { at: at(10), state: 'uploading' },
  { at: at(20), state: 'in-flight' },
  { at: at(50), event: 'airspace-slot' },
];

describe('takeOverReason', () => {
  it('no lease lost by this node (a restarted service, or a take-over of a dead node’s job): service-restarted', () => {
    expect(takeOverReason(flown, undefined)).toBe('service-restarted');
    // a job this node resumed after an earlier restart, long before anything else happened
    expect(takeOverReason([...flown, { at: at(55), event: 'tracking-resumed' }], undefined)).toBe('service-restarted');
  });

  it('this node lost the lease and takes the job back, nobody having taken it over: lease-regained', () => {
    expect(takeOverReason(flown, T0 + 60_000)).toBe('lease-regained');
    // entries written after the loss that are not a take-over (an operator's command through this node) change nothing
    expect(takeOverReason([...flown, { at: at(70), event: 'operator-command' }], T0 + 60_000)).toBe('lease-regained');
    // a take-over by this node before the loss (it had restarted earlier) is not one since the loss
    expect(takeOverReason([...flown, { at: at(55), event: 'tracking-resumed' }], T0 + 60_000)).toBe('lease-regained');
  });

  it('another node takes up a job whose node lost its lease with the database (it went away under both): service-restarted', () => {
    // the taking node never held the lease: it cannot tell the other node's lost connection from its death
    expect(takeOverReason(flown, undefined)).toBe('service-restarted');
  });

  it('another node took the job over after this node lost the lease (then stopped): service-restarted', () => {
    expect(takeOverReason([...flown, { at: at(62), event: 'tracking-resumed' }, { at: at(62), event: 'link-lost' }], T0 + 60_000)).toBe('service-restarted');
    expect(takeOverReason([...flown.slice(0, 3), { at: at(61), event: 'dispatch-resumed' }], T0 + 60_000)).toBe('service-restarted');
  });

  it('the gap it opens starts at the last committed entry and carries the reason', () => {
    expect(openGap(flown, takeOverReason(flown, T0 + 60_000))).toEqual({ from: at(50), reason: 'lease-regained' });
  });
});

describe('takenUpBy', () => {
  it('names the taking node on its entry when it has a name', () => {
    expect(takenUpBy('node-a')).toEqual({ node: 'node-a' });
    expect(takenUpBy(undefined)).toEqual({});
    expect(takenUpBy('')).toEqual({});
  });
});
