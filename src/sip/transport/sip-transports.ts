import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer, isIP, isIPv6, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, rootCertificates, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { parseMessage, SipStreamFramer } from '../message/parser.js';
import { serializeMessage } from '../message/serializer.js';
import { DEFAULT_SIP_LIMITS, SipParseError, type SipLimits, type SipMessage } from '../message/types.js';
import { advertisedAddress } from './advertised-address.js';
import type { InboundMessage, SendErrorHandler, SipEndpoint, TransportProtocol } from './types.js';

/** The certificate SIP over TLS listens with (DIALPLANE_SIP_TLS_CERT / _KEY), PEM. */
export interface SipTlsServerOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** 0 picks a free port (DIALPLANE_SIP_TLS_PORT). */
  readonly port: number;
}

export interface SipTransportsOptions {
  readonly host: string;
  /** Advertised in Via and Contact instead of host (DIALPLANE_SIP_PUBLIC_ADDRESS). */
  readonly publicAddress?: string | undefined;
  /** 0 picks a free port (the same number for UDP and TCP). */
  readonly port: number;
  readonly limits?: SipLimits;
  readonly onMessage: (inbound: InboundMessage) => void;
  /** A datagram or stream that did not parse; never thrown, only reported. */
  readonly onParseError?: (error: SipParseError, source: SipEndpoint, raw: Buffer | undefined) => void;
  /** How long an idle TCP or TLS connection is kept. */
  readonly tcpIdleMs?: number;
  /** SIP over TLS (RFC 3261 §26.3.1) on its own port; no TLS listener without it (outbound TLS works either way). */
  readonly tls?: SipTlsServerOptions | undefined;
  /** PEM CA certificates trusted for outbound TLS besides Node's own (DIALPLANE_SIP_TLS_CA). */
  readonly tlsCa?: readonly string[] | undefined;
  /** An outbound TLS connection sent without verifying its peer (a trunk's `;verify=off`). */
  readonly onUnverifiedTls?: (target: SipEndpoint) => void;
}

const DEFAULT_TCP_IDLE_MS = 120_000;
const MAX_TCP_CONNECTIONS = 1_000;
/** A TLS peer that has not finished its handshake by then is dropped (Node's default is 120 s). */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
const UDP_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * UDP and TCP for SIP (RFC 3261 §18) on one port number, and TLS (§26) on another when a certificate is given.
 * Inbound bytes become messages here or are refused here: nothing a peer sends can throw past this class. TCP and
 * TLS connections are reused per remote endpoint in both directions: a response goes back on the connection its
 * request came in on, a request to a device goes over the connection it registered on (its flow, the only way to a
 * phone behind NAT), and requests to a trunk share the one open connection to it.
 */
export class SipTransports {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private tlsServer: TlsServer | undefined;
  private readonly connections = new Map<string, Socket>();
  /**
   * Connections still connecting (TCP) or in their handshake (TLS), with the error handlers of the messages waiting
   * on them: a failure before the connection is up (refused, a certificate that does not verify) is theirs.
   */
  private readonly pending = new WeakMap<Socket, Set<(error: Error) => void>>();
  private readonly limits: SipLimits;
  private boundPort = 0;
  private boundTlsPort = 0;
  private closed = false;

  constructor(private readonly options: SipTransportsOptions) {
    this.limits = options.limits ?? DEFAULT_SIP_LIMITS;
  }

  get port(): number {
    return this.boundPort;
  }

  /** The TLS listener's port; 0 when there is none. */
  get tlsPort(): number {
    return this.boundTlsPort;
  }

  /** Our advertised address for no particular peer (Call-IDs): never 0.0.0.0 or ::. */
  get host(): string {
    return advertisedAddress({ bind: this.options.host, publicAddress: this.options.publicAddress });
  }

  async listen(): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const udp = await this.bindUdp(this.options.port);
      const port = udp.address().port;
      try {
        this.tcp = await this.bindTcp(port);
        this.udp = udp;
        this.boundPort = port;
        if (this.options.tls) await this.bindTls(this.options.tls);
        return port;
      } catch (error) {
        udp.close();
        // With a fixed port there is nothing to retry; with port 0, the TCP side of that number was taken.
        if (this.options.port !== 0) throw error;
      }
    }
    throw new Error('could not bind UDP and TCP on one port');
  }

  /** Whether a TCP or TLS connection to (or from) this endpoint is open: its flow can still be used. */
  hasConnection(endpoint: SipEndpoint): boolean {
    const socket = this.connections.get(endpointKey(endpoint));
    return socket !== undefined && !socket.destroyed;
  }

  /**
   * Sends a message; failures (unreachable, refused, reset, a TLS certificate that does not verify) are reported to
   * onError, never thrown.
   */
  send(message: SipMessage, target: SipEndpoint, onError?: SendErrorHandler): void {
    const bytes = serializeMessage(message);
    if (target.transport === 'udp') {
      if (!this.udp) return onError?.(new Error('UDP transport is not listening'));
      this.udp.send(bytes, target.port, target.address, (error) => {
        if (error && onError) onError(error);
      });
      return;
    }
    let socket: Socket;
    try {
      socket = this.connectionTo(target);
    } catch (error) {
      onError?.(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    let reported = false;
    const report = (error: Error) => {
      if (reported || !onError) return;
      reported = true;
      onError(error);
    };
    // Until the connection is up (for TLS: the peer's certificate verified) a failure belongs to every message
    // waiting on it; once up, a write's own callback tells.
    if (onError) this.pending.get(socket)?.add(report);
    socket.write(bytes, (error) => {
      if (error) report(error);
    });
  }

  /** Our address for Via and Contact (towards peer when known): never 0.0.0.0 or ::, see advertisedAddress. */
  local(transport: TransportProtocol, peer?: string): SipEndpoint {
    const address = advertisedAddress({ bind: this.options.host, publicAddress: this.options.publicAddress, peer });
    // Without a TLS listener, what a TLS peer is told is the port one would listen on (the standard 5061 unless
    // configured): answers still come back on our connection, requests the peer opens anew find nothing there.
    const tlsPort = this.boundTlsPort || this.options.tls?.port || 5061;
    return { transport, address, port: transport === 'tls' ? tlsPort : this.boundPort };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.connections.values()) socket.destroy();
    this.connections.clear();
    await Promise.all([
      new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.tlsServer ? this.tlsServer.close(() => resolve()) : resolve())),
    ]);
  }

  private bindUdp(port: number): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({ type: isIPv6(this.options.host) ? 'udp6' : 'udp4' });
      socket.once('error', reject);
      socket.on('message', (data, info) => {
        this.receiveDatagram(data, { transport: 'udp', address: info.address, port: info.port });
      });
      socket.bind(port, this.options.host, () => {
        socket.off('error', reject);
        // Bursts of responses (hundreds of calls answering at once) overflow the default ~200 KB receive buffer, and
        // every datagram dropped there costs a retransmission. The kernel caps this at net.core.rmem_max.
        try {
          socket.setRecvBufferSize(UDP_BUFFER_BYTES);
          socket.setSendBufferSize(UDP_BUFFER_BYTES);
        } catch {
          // Not permitted here: the default buffer still works, only with more retransmissions under load.
        }
        // Errors after binding (ICMP unreachable surfacing on send) are per-send, reported by send's callback.
        socket.on('error', () => undefined);
        resolve(socket);
      });
    });
  }

  private bindTcp(port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.adopt(socket, 'tcp'));
      server.maxConnections = MAX_TCP_CONNECTIONS;
      server.once('error', reject);
      server.listen(port, this.options.host, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }

  private bindTls(options: SipTlsServerOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createTlsServer(
        { cert: options.cert, key: options.key, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS, minVersion: 'TLSv1.2' },
        (socket) => this.adopt(socket, 'tls'),
      );
      server.maxConnections = MAX_TCP_CONNECTIONS;
      // A client that fails its handshake (a scanner, a phone that distrusts our certificate) only loses its socket.
      server.on('tlsClientError', (_error, socket) => socket.destroy());
      server.once('error', reject);
      server.listen(options.port, this.options.host, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        const address = server.address();
        this.boundTlsPort = typeof address === 'object' && address ? address.port : 0;
        this.tlsServer = server;
        resolve();
      });
    });
  }

  private receiveDatagram(data: Buffer, source: SipEndpoint): void {
    // Keep-alive CRLFs (RFC 5626 §3.5.1) and empty datagrams are not messages.
    if (data.length <= 4 && data.toString('latin1').trim() === '') return;
    let message: SipMessage;
    try {
      message = parseMessage(data, this.limits);
    } catch (error) {
      this.options.onParseError?.(asParseError(error), source, data);
      return;
    }
    this.deliver(message, source, 'udp');
  }

  private deliver(message: SipMessage, source: SipEndpoint, transport: TransportProtocol): void {
    try {
      this.options.onMessage({ message, source, local: this.local(transport, source.address) });
    } catch {
      // The stack above handles its own failures; a bug there must not take the socket down.
    }
  }

  private adopt(socket: Socket, transport: 'tcp' | 'tls'): void {
    const remote: SipEndpoint = { transport, address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.attach(socket, remote);
  }

  private connectionTo(target: SipEndpoint): Socket {
    const existing = this.connections.get(endpointKey(target));
    if (existing && !existing.destroyed) return existing;
    if (this.closed) throw new Error('SIP transports are closed');
    const socket = target.transport === 'tls' ? this.connectTls(target) : createConnection({ host: target.address, port: target.port });
    const waiting = new Set<(error: Error) => void>();
    this.pending.set(socket, waiting);
    socket.once(target.transport === 'tls' ? 'secureConnect' : 'connect', () => this.pending.delete(socket));
    socket.once('error', (error) => {
      if (this.pending.get(socket) !== waiting) return;
      this.pending.delete(socket);
      for (const report of waiting) report(error);
    });
    this.attach(socket, target);
    return socket;
  }

  /**
   * RFC 3261 §26.3.1: the peer's certificate must chain to a trusted CA (Node's own plus DIALPLANE_SIP_TLS_CA) and
   * name the host we meant (the trunk's host name, else its address); otherwise the connection fails and every
   * message waiting on it is reported as a transport error. Only a trunk's explicit `;verify=off` skips this.
   */
  private connectTls(target: SipEndpoint): TLSSocket {
    const verify = target.tls?.verify ?? true;
    const name = target.tls?.serverName;
    // Node checks the certificate against servername when set, else against host: an IP literal is never an SNI name.
    const named = name !== undefined && isIP(name) === 0 ? name : undefined;
    if (!verify) this.options.onUnverifiedTls?.(target);
    const extra = this.options.tlsCa ?? [];
    const socket = tlsConnect({
      host: target.address,
      port: target.port,
      ...(named ? { servername: named } : {}),
      ...(extra.length > 0 ? { ca: [...rootCertificates, ...extra] } : {}),
      rejectUnauthorized: verify,
      minVersion: 'TLSv1.2',
    });
    return socket;
  }

  /** Either direction: frame the stream, deliver messages, forget the connection when it closes. */
  private attach(socket: Socket, remote: SipEndpoint): void {
    const key = endpointKey(remote);
    this.connections.set(key, socket);
    const framer = new SipStreamFramer(this.limits);
    socket.setNoDelay(true);
    socket.setTimeout(this.options.tcpIdleMs ?? DEFAULT_TCP_IDLE_MS, () => socket.destroy());
    socket.on('data', (chunk) => {
      let messages: SipMessage[];
      try {
        messages = framer.push(chunk);
      } catch (error) {
        // A stream that broke framing cannot be resynchronised: drop the connection.
        this.options.onParseError?.(asParseError(error), remote, undefined);
        socket.destroy();
        return;
      }
      for (const message of messages) this.deliver(message, remote, remote.transport);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.connections.get(key) === socket) this.connections.delete(key);
    });
  }
}

function endpointKey(endpoint: SipEndpoint): string {
  return `${endpoint.transport}:${endpoint.address}:${endpoint.port}`;
}

function asParseError(error: unknown): SipParseError {
  return error instanceof SipParseError ? error : new SipParseError(error instanceof Error ? error.message : String(error));
}
