import { randomBytesPooled } from '../../random-pool.js';

/** RFC 3261 §8.1.1.7: branches start with the magic cookie so peers know they are globally unique. */
export const BRANCH_COOKIE = 'z9hG4bK';

const token = (bytes: number) => randomBytesPooled(bytes).toString('base64url').replace(/[-_]/g, 'x');

export const newBranch = (): string => `${BRANCH_COOKIE}${token(12)}`;
export const newTag = (): string => token(8);
export const newCallId = (host: string): string => `${token(16)}@${host}`;
