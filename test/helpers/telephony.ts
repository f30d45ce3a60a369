import pino from 'pino';
import { loadConfig } from '../../src/config/config.js';
import type { Services } from '../../src/core/services.js';
import { startTelephony, type Telephony } from '../../src/telephony.js';

/**
 * A telephony engine for a test: SIP on a free port, no keepalives (SIPp scenarios expect exactly their call), no
 * logs; `rtpPorts` keeps parallel test files off each other's ports, `trunk` points it at the test's peer.
 */
export async function startTestTelephony(
  services: Services,
  options: { readonly rtpPorts: string; readonly trunk: string; readonly env?: Record<string, string> },
): Promise<Telephony> {
  const config = loadConfig({
    DIALPLANE_DATA_DIR: '/nonexistent-unused',
    DIALPLANE_SIP_PORT: '0',
    DIALPLANE_TRUNK_KEEPALIVE_S: '0',
    DIALPLANE_RTP_PORTS: options.rtpPorts,
    DIALPLANE_TRUNK: options.trunk,
    ...options.env,
  });
  return startTelephony(config, services, pino({ level: 'silent' }));
}

/** A trunk that answers nothing, for tests where calls only come in. */
export const NO_TRUNK = 'sip:127.0.0.1:9';
