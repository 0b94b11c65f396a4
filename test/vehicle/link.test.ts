import * as net from 'net';
import * as dgram from 'dgram';
import { openLink, parseLinkUri, Link, LinkError } from '../../src/link';
import { until } from './wait';

const links: Link[] = [];
afterAll(async () => {
  await Promise.all(links.map((l) => l.close()));
});

describe('link URIs', () => {
  test('parses the four forms', () => {
    expect(parseLinkUri('tcp:127.0.0.1:5760')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 5760 });
    expect(parseLinkUri('udpin:0.0.0.0:14550')).toEqual({ kind: 'udpin', host: '0.0.0.0', port: 14550 });
    expect(parseLinkUri('udpout:10.0.0.5:14550')).toEqual({ kind: 'udpout', host: '10.0.0.5', port: 14550 });
    expect(parseLinkUri('serial:/dev/ttyACM0:115200')).toEqual({ kind: 'serial', host: '/dev/ttyACM0', port: 115200 });
    expect(parseLinkUri('tcp:localhost:5760').host).toBe('localhost');
  });

  test.each(['', 'tcp', 'tcp:127.0.0.1', 'tcp:127.0.0.1:notaport', 'tcp:127.0.0.1:70000', 'tcp:127.0.0.1:0', 'ftp:host:21', 'serial:/dev/ttyUSB0:12345', 'udpin:bad host:14550'])(
    'rejects %j with INVALID_LINK_URI',
    (uri) => {
      expect(() => openLink(uri)).toThrow(LinkError);
      try {
        openLink(uri);
      } catch (e) {
        expect((e as LinkError).code).toBe('INVALID_LINK_URI');
        expect((e as Error).message).toContain(JSON.stringify(uri));
      }
    },
  );
});

describe('tcp link', () => {
  test('connects, exchanges bytes, reconnects with backoff after the server drops it, resumes', async () => {
    const conns: net.Socket[] = [];
    const received: Buffer[] = [];
    const server = net.createServer((s) => {
      conns.push(s);
      s.on('data', (b) => received.push(b));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const link = openLink(`tcp:127.0.0.1:${port}`, { reconnectMinMs: 50, reconnectMaxMs: 200 });
    links.push(link);
    const events: string[] = [];
    const data: Buffer[] = [];
    link.on('up', () => events.push('up'));
    link.on('down', () => events.push('down'));
    link.on('data', (b: Buffer) => data.push(b));
    await until(() => link.up && conns.length === 1, 10000, 'first connect');
    expect(link.write(Buffer.from('hello'))).toBe(true);
    conns[0].write(Buffer.from('from-vehicle'));
    await until(() => Buffer.concat(received).toString() === 'hello' && Buffer.concat(data).toString() === 'from-vehicle');

    // The server side drops the connection: the same link object reconnects by itself.
    conns[0].destroy();
    await until(() => events.includes('down'), 10000, 'down');
    expect(link.write(Buffer.from('lost'))).toBe(false);
    await until(() => link.up && conns.length === 2, 10000, 'reconnect');
    conns[1].write(Buffer.from('-again'));
    link.write(Buffer.from('-resumed'));
    await until(() => Buffer.concat(data).toString() === 'from-vehicle-again' && Buffer.concat(received).toString() === 'hello-resumed');
    expect(events).toEqual(['up', 'down', 'up']);
    expect(link.stats).toMatchObject({ reconnects: 1, dropped: 1, bytesOut: 13, bytesIn: 18 });
    expect(link.stats.packetsIn).toBeGreaterThanOrEqual(2);
    await link.close();
    expect(link.up).toBe(false);
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('keeps retrying while nobody listens, connects when a server appears', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const link = openLink(`tcp:127.0.0.1:${port}`, { reconnectMinMs: 20, reconnectMaxMs: 100 });
    links.push(link);
    await new Promise((r) => setTimeout(r, 300));
    expect(link.up).toBe(false);
    let connected = false;
    const server = net.createServer((s) => {
      connected = true;
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    await until(() => connected && link.up, 10000, 'late connect');
    expect(link.stats.reconnects).toBe(0);
    await link.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe('udp links', () => {
  test('udpin answers every remote that spoke to it', async () => {
    const link = openLink('udpin:127.0.0.1:0');
    links.push(link);
    await until(() => link.up && link.local !== null);
    const port = link.local!.port;
    const got: Buffer[] = [];
    link.on('data', (b: Buffer) => got.push(b));
    expect(link.write(Buffer.from('nobody yet'))).toBe(false);
    const a = dgram.createSocket('udp4');
    const b = dgram.createSocket('udp4');
    const aGot: string[] = [];
    const bGot: string[] = [];
    a.on('message', (m) => aGot.push(m.toString()));
    b.on('message', (m) => bGot.push(m.toString()));
    await new Promise<void>((r) => a.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => b.bind(0, '127.0.0.1', () => r()));
    a.send('A', port, '127.0.0.1');
    await until(() => got.length === 1);
    link.write(Buffer.from('one'));
    await until(() => aGot.includes('one'));
    b.send('B', port, '127.0.0.1');
    await until(() => got.length === 2);
    link.write(Buffer.from('two'));
    await until(() => aGot.includes('two') && bGot.includes('two'));
    expect(bGot).toEqual(['two']);
    expect(link.stats).toMatchObject({ packetsIn: 2, bytesIn: 2, packetsOut: 2 });
    a.close();
    b.close();
    await link.close();
  });

  test('udpout sends to its address and receives the replies', async () => {
    const server = dgram.createSocket('udp4');
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
    const port = server.address().port;
    server.on('message', (m, rinfo) => server.send(Buffer.concat([Buffer.from('echo:'), m]), rinfo.port, rinfo.address));
    const link = openLink(`udpout:127.0.0.1:${port}`);
    links.push(link);
    const got: string[] = [];
    link.on('data', (b: Buffer) => got.push(b.toString()));
    await until(() => link.up);
    link.write(Buffer.from('ping'));
    await until(() => got.includes('echo:ping'));
    await link.close();
    server.close();
  });
});

describe('serial link', () => {
  test('a missing device is retried with backoff, reported through error events, never thrown', async () => {
    const link = openLink('serial:/dev/dropline-no-such-tty:57600', { reconnectMinMs: 20, reconnectMaxMs: 50 });
    links.push(link);
    const errors: Error[] = [];
    link.on('error', (e: Error) => errors.push(e));
    await until(() => errors.length >= 2, 10000, 'two failed opens');
    expect(link.up).toBe(false);
    expect(link.write(Buffer.from('x'))).toBe(false);
    expect(link.stats.dropped).toBe(1);
    await link.close();
  });
});
