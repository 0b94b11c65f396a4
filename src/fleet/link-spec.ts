/**
 * A link as the fleet is told about it: the transport URI (src/link) plus MAVLink options in a
 * query string, which the transport never sees.
 *
 *   tcp:127.0.0.1:5760?signing=require
 *   udpin:0.0.0.0:14550?signing=require&signingKeyFile=/etc/dropline/field.key&id=field
 *   serial:/dev/ttyACM0:115200?signing=sign
 *
 * - `signing=off|sign|require`: off sends and accepts unsigned frames; sign signs what we send and
 *   still accepts unsigned frames (signed ones must verify); require also drops every unsigned,
 *   badly signed or replayed frame. Default: require when a key is known for the link, else off.
 * - `signingKeyFile=PATH`: the key as 64 hex digits in a file. Default: the key stored for the
 *   link id (provisioned through the API), if any.
 * - `id=NAME`: the link id (vehicle ids are `NAME/SYSID`, and stored keys belong to a link id).
 *   Default: the caller's (`link0`, `link1`, … in the service).
 */
import { LinkError, parseLinkUri } from '../link';
import type { SigningMode } from '../mavlink/signing';

export interface LinkSpec {
  /** What the transport opens, without the query. */
  transport: string;
  signing?: SigningMode;
  signingKeyFile?: string;
  id?: string;
}

const MODES: readonly SigningMode[] = ['off', 'sign', 'require'];

/**
 * Split and check a link URI with its query; throws LinkError INVALID_LINK_URI naming the problem.
 * `transportGiven`: the caller brings its own transport (a bus link), so the part before '?' only
 * names it and is not checked as a tcp/udp/serial URI. Default false.
 */
export function parseLinkSpec(uri: string, opts: { transportGiven?: boolean } = {}): LinkSpec {
  const bad = (why: string) => new LinkError('INVALID_LINK_URI', `invalid link URI ${JSON.stringify(uri)}: ${why}`);
  if (typeof uri !== 'string') throw bad('not a string');
  const q = uri.indexOf('?');
  const transport = (q < 0 ? uri : uri.slice(0, q)).trim();
  if (!opts.transportGiven) parseLinkUri(transport); // the transport part must stand on its own
  else if (!transport) throw bad('no link name before the options');
  const spec: LinkSpec = { transport };
  if (q < 0) return spec;
  const params = new URLSearchParams(uri.slice(q + 1));
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) throw bad(`${name} given twice`);
    seen.add(name);
    switch (name) {
      case 'signing':
        if (!(MODES as readonly string[]).includes(value)) throw bad(`signing must be off, sign or require, not ${JSON.stringify(value)}`);
        spec.signing = value as SigningMode;
        break;
      case 'signingKeyFile':
        if (!value) throw bad('signingKeyFile needs a path');
        spec.signingKeyFile = value;
        break;
      case 'id':
        if (!/^[A-Za-z0-9_.-]{1,64}$/.test(value)) throw bad('id must be 1–64 letters, digits, _ . or -');
        spec.id = value;
        break;
      default:
        throw bad(`unknown option ${JSON.stringify(name)} (known: signing, signingKeyFile, id)`);
    }
  }
  return spec;
}
