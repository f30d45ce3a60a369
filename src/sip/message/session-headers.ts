/**
 * Headers of the invite session's extensions: session timers (RFC 4028 §4) and reliable provisional responses
 * (RFC 3262 §7). Each parser throws SipParseError when the value does not match its grammar.
 *
 *   Session-Expires = ("Session-Expires" / "x") HCOLON delta-seconds *(SEMI se-params)
 *   se-params       = refresher-param / generic-param;   refresher-param = "refresher" EQUAL ("uas" / "uac")
 *   Min-SE          = "Min-SE" HCOLON delta-seconds *(SEMI generic-param)
 *   RSeq            = "RSeq" HCOLON response-num;        response-num = 1*DIGIT
 *   RAck            = "RAck" HCOLON response-num LWS CSeq-num LWS Method
 */
import { formatParams, parseParams } from './headers.js';
import { fail, guard, isToken, trimWsp } from './syntax.js';
import type { SipParams } from './types.js';

/** delta-seconds and response-num are 1*DIGIT; RFC 3262 §7.1 and §8.1.1.5 of RFC 3261 bound such numbers below 2**31. */
const MAX_NUMBER = 2 ** 31 - 1;

export interface SessionExpires {
  readonly seconds: number;
  /** Who refreshes the session; absent in a request that leaves the choice to the UAS. */
  readonly refresher: 'uac' | 'uas' | undefined;
  /** Every parameter as received, refresher included. */
  readonly params: SipParams;
}

export interface MinSe {
  readonly seconds: number;
  readonly params: SipParams;
}

export interface RAck {
  /** The RSeq of the provisional response acknowledged. */
  readonly rseq: number;
  /** The CSeq number and method of the request that response answered. */
  readonly cseq: number;
  readonly method: string;
}

function number(digits: string, what: string): number {
  if (!/^[0-9]+$/.test(digits)) fail(`${what} must be digits`);
  const significant = digits.replace(/^0+(?=.)/, '');
  if (significant.length > 10 || Number(significant) > MAX_NUMBER) fail(`${what} out of range`);
  return Number(significant);
}

function checkNumber(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_NUMBER) fail(`${what} out of range`);
}

/** Splits "digits *(;param)" into its number and its parameters. */
function numberWithParams(text: string, what: string): { seconds: number; params: SipParams } {
  const value = trimWsp(text);
  const semi = value.indexOf(';');
  const digits = trimWsp(semi < 0 ? value : value.slice(0, semi));
  return { seconds: number(digits, what), params: semi < 0 ? [] : parseParams(value.slice(semi)) };
}

export function parseSessionExpires(text: string): SessionExpires {
  return guard('Session-Expires', () => {
    const { seconds, params } = numberWithParams(text, 'Session-Expires');
    const refresher = params.find(([name]) => name === 'refresher')?.[1];
    if (refresher !== undefined && refresher !== null) {
      const lower = refresher.toLowerCase();
      if (lower !== 'uac' && lower !== 'uas') fail('Session-Expires refresher must be uac or uas');
      return { seconds, refresher: lower, params };
    }
    if (refresher === null) fail('Session-Expires refresher needs a value');
    return { seconds, refresher: undefined, params };
  });
}

export function formatSessionExpires(value: { readonly seconds: number; readonly refresher?: 'uac' | 'uas' | undefined; readonly params?: SipParams }): string {
  return guard('Session-Expires', () => {
    checkNumber(value.seconds, 'Session-Expires');
    const others = (value.params ?? []).filter(([name]) => name !== 'refresher');
    const params: SipParams = value.refresher ? [['refresher', value.refresher], ...others] : others;
    return `${value.seconds}${formatParams(params)}`;
  });
}

export function parseMinSe(text: string): MinSe {
  return guard('Min-SE', () => numberWithParams(text, 'Min-SE'));
}

export function formatMinSe(value: { readonly seconds: number; readonly params?: SipParams }): string {
  return guard('Min-SE', () => {
    checkNumber(value.seconds, 'Min-SE');
    return `${value.seconds}${formatParams(value.params ?? [])}`;
  });
}

export function parseRSeq(text: string): number {
  return guard('RSeq', () => {
    const value = number(trimWsp(text), 'RSeq');
    if (value === 0) fail('RSeq must be at least 1');
    return value;
  });
}

export function formatRSeq(value: number): string {
  return guard('RSeq', () => {
    checkNumber(value, 'RSeq');
    if (value === 0) fail('RSeq must be at least 1');
    return String(value);
  });
}

export function parseRAck(text: string): RAck {
  return guard('RAck', () => {
    const match = /^([0-9]+)[ \t]+([0-9]+)[ \t]+([^ \t]+)$/.exec(trimWsp(text));
    if (!match) return fail('RAck must be a response number, a CSeq number and a method');
    const method = match[3] as string;
    if (!isToken(method)) fail('invalid RAck method');
    return { rseq: number(match[1] as string, 'RAck response number'), cseq: number(match[2] as string, 'RAck CSeq number'), method };
  });
}

export function formatRAck(value: RAck): string {
  return guard('RAck', () => {
    checkNumber(value.rseq, 'RAck response number');
    checkNumber(value.cseq, 'RAck CSeq number');
    if (!isToken(value.method)) fail('invalid RAck method');
    return `${value.rseq} ${value.cseq} ${value.method}`;
  });
}
