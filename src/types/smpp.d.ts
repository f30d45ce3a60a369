/**
 * Type declarations for the parts of the `smpp` package (node-smpp 0.5.x, CommonJS, no bundled types) that Dialplane
 * uses: PDU encoding and decoding, and the server and session used by tests. Import it as the default export
 * (`import smpp from 'smpp'`): the package fills most of its exports in loops that Node's CommonJS named-export
 * detection does not see.
 */
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';
  import type { Server as NetServer, Socket } from 'node:net';

  /** Parameter values of a PDU: integers, C-octet strings, octet strings (Buffer) and TLVs by their names. */
  export type PduFields = Record<string, unknown>;

  export class PDU {
    /** Builds a request or response PDU; fields not given get the specification's defaults. */
    constructor(command: string, options?: PduFields);
    /** Decodes one whole PDU (its command_length first); throws on a malformed or oversized PDU. */
    constructor(buffer: Buffer);
    /** Largest command_length accepted when decoding. */
    static maxLength: number;
    /** Command name ('submit_sm', 'deliver_sm_resp', ...), or 'unknown' for an unknown command_id. */
    command: string;
    command_length: number;
    command_id: number;
    command_status: number;
    sequence_number: number;
    [field: string]: unknown;
    isResponse(): boolean;
    /** The response to this request (generic_nack for an unknown command), with the same sequence_number. */
    response(options?: PduFields): PDU;
    /** Encodes the PDU; for a non-zero command_status only the 16-octet header is written. */
    toBuffer(): Buffer;
  }

  export class Session extends EventEmitter {
    constructor(options: { socket?: Socket; host?: string; port?: number });
    socket: Socket;
    server?: Server;
    /** Sends a PDU; a request gets the next sequence_number when it has none. False when the socket is not writable. */
    send(pdu: PDU, responseCallback?: (response: PDU) => void, sendCallback?: (pdu: PDU) => void): boolean;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
    pause(): void;
    resume(): void;
    deliver_sm(options: PduFields, responseCallback?: (response: PDU) => void): boolean;
    submit_sm(options: PduFields, responseCallback?: (response: PDU) => void): boolean;
    bind_transceiver(options: PduFields, responseCallback?: (response: PDU) => void): boolean;
    enquire_link(options?: PduFields, responseCallback?: (response: PDU) => void): boolean;
    unbind(options?: PduFields, responseCallback?: (response: PDU) => void): boolean;
  }

  export class Server extends NetServer {
    /** Sessions whose sockets are open. */
    sessions: Session[];
  }

  interface Smpp {
    PDU: typeof PDU;
    Session: typeof Session;
    Server: typeof Server;
    createServer(listener?: (session: Session) => void): Server;
    createServer(options: Record<string, unknown>, listener?: (session: Session) => void): Server;
    /** Command status codes by name: ESME_ROK, ESME_RTHROTTLED, ... */
    errors: Readonly<Record<string, number>>;
    /** Command definitions by name; `commands[name + '_resp']` exists for every request that has a response. */
    commands: Readonly<Record<string, { id: number }>>;
  }

  const smpp: Smpp;
  export default smpp;
}
