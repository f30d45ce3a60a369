import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from '../core/api-keys.js';
import type { ApiKeyService } from '../core/api-keys.js';
import type { SignInService } from '../core/sign-in.js';
import { DialplaneError } from '../errors.js';
import type { AuthScheme } from './types.js';

export interface PresentedCredentials {
  readonly token: string;
  readonly appId?: string;
  /** A signed-in user's access token (Authorization: Bearer), not an API key. */
  readonly userToken?: true;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function bearer(headers: IncomingHttpHeaders): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header(headers, 'authorization') ?? '');
  return match?.[1];
}

/** HTTP Basic with the key as the user name; the password is ignored (documents say none is needed). */
function basic(headers: IncomingHttpHeaders): string | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header(headers, 'authorization') ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  return user || undefined;
}

/** The key alone as the Authorization header's value, with no scheme word (`Authorization: dk_live_…`). */
function bare(headers: IncomingHttpHeaders): string | undefined {
  const value = header(headers, 'authorization')?.trim();
  return value && /^[A-Za-z0-9_-]+$/.test(value) ? value : undefined;
}

/**
 * Finds credentials in the first scheme, in the order the route lists them, that the request uses. Node has already
 * lower-cased header names, so X-API-KEY, x-api-key and X-Api-Key are one header.
 */
export function extractCredentials(
  headers: IncomingHttpHeaders,
  schemes: readonly AuthScheme[],
): PresentedCredentials | undefined {
  for (const scheme of schemes) {
    switch (scheme) {
      case 'bearer': {
        const token = bearer(headers);
        if (token) return { token };
        break;
      }
      case 'basic': {
        const token = basic(headers);
        if (token) return { token };
        break;
      }
      case 'bare': {
        const token = bare(headers);
        if (token) return { token };
        break;
      }
      case 'x-api-key': {
        const token = header(headers, 'x-api-key')?.trim();
        if (token && header(headers, 'x-app-id') === undefined) return { token };
        break;
      }
      case 'user-token': {
        const token = bearer(headers);
        if (token) return { token, userToken: true };
        break;
      }
      case 'app': {
        const appId = header(headers, 'x-app-id')?.trim();
        const token = header(headers, 'x-api-key')?.trim();
        if (appId && token) return { token, appId };
        break;
      }
    }
  }
  return undefined;
}

/** Missing and invalid credentials are told apart (some documents answer them differently), never why invalid. */
export async function authenticate(
  services: { readonly keys: ApiKeyService; readonly signIn: SignInService },
  headers: IncomingHttpHeaders,
  schemes: readonly AuthScheme[],
): Promise<Principal> {
  const presented = extractCredentials(headers, schemes);
  if (!presented) throw new DialplaneError('missing_credentials');
  if (presented.userToken) {
    const principal = await services.signIn.authenticate(presented.token);
    if (!principal) throw new DialplaneError('invalid_credentials', 'The access token is not valid or has expired');
    return principal;
  }
  const principal = await services.keys.authenticate(presented.token, presented.appId);
  if (!principal) throw new DialplaneError('invalid_credentials');
  return principal;
}
