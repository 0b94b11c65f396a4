/** Byte-stream transports from a URI. See link.ts for the URI forms and events. */
import { Link, LinkError, LinkOptions, parseLinkUri } from './link';
import { TcpLink } from './tcp';
import { UdpLink } from './udp';
import { SerialLink } from './serial';

/** Open a link from its URI. Throws LinkError (code INVALID_LINK_URI) on a malformed URI. */
export function openLink(uri: string, opts: LinkOptions = {}): Link {
  const p = parseLinkUri(uri);
  switch (p.kind) {
    case 'tcp':
      return new TcpLink(uri, p.host, p.port, opts);
    case 'udpin':
    case 'udpout':
      return new UdpLink(uri, p.kind, p.host, p.port, opts);
    case 'serial':
      return new SerialLink(uri, p.host, p.port, opts);
  }
}

export { LinkError, parseLinkUri };
export type { Link, LinkOptions };
export type { LinkKind, LinkStats, ParsedLinkUri } from './link';
export { TcpLink, UdpLink, SerialLink };
