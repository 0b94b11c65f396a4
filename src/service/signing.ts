/**
 * MAVLink signing in the service: the stored keys by link id (read once at start, kept current by
 * provisioning), and the API's signing status and provisioning. Keys are never logged nor answered.
 */
import { randomBytes } from 'crypto';
import type { Logger } from 'pino';
import type { Fleet } from '../fleet';
import type { Store } from '../store';
import type { SigningControl } from '../server/app';

/** Signing keys by link id, read once: links are added synchronously (kept current by provisioning). */
export async function loadSigningKeys(store: Store): Promise<Map<string, Buffer>> {
  const signingKeys = new Map<string, Buffer>();
  for (const k of await store.listSigningKeys()) {
    const key = await store.getSigningKey(k.linkId);
    if (key) signingKeys.set(k.linkId, key);
  }
  return signingKeys;
}

export function createSigningControl(fleet: Fleet, store: Store, signingKeys: Map<string, Buffer>, log: Logger): SigningControl {
  return {
    status: (vehicleId) => {
      const s = fleet.signingStatus(vehicleId);
      return s ? { enabled: s.enabled, mode: s.mode, keyId: s.keyId, counters: s.counters } : null;
    },
    provision: async (vehicleId, by) => {
      if (!fleet.get(vehicleId)) return { ok: false, code: 'VEHICLE_NOT_FOUND', message: `no vehicle ${vehicleId}`, status: 404 };
      const key = randomBytes(32);
      const r = await fleet.provisionSigning(vehicleId, key);
      if (!r.ok) {
        log.warn({ vehicleId, code: r.code, message: r.message }, 'signing key not provisioned');
        // Not confirmed: the link went back to its previous signing and the key was not kept.
        if (r.code === 'TIMEOUT') return { ok: false, code: 'SIGNING_NOT_CONFIRMED', message: r.message, status: 504 };
        return { ok: false, code: r.code, message: r.message, status: 409 };
      }
      const linkId = fleet.get(vehicleId)?.state.linkId ?? vehicleId.slice(0, vehicleId.lastIndexOf('/'));
      const info = await store.setSigningKey(linkId, key, { vehicleId, createdBy: by });
      signingKeys.set(linkId, Buffer.from(key));
      log.info({ vehicleId, linkId, keyId: info.keyId, mode: r.mode }, 'signing key provisioned');
      return { ok: true, keyId: info.keyId };
    },
  };
}
