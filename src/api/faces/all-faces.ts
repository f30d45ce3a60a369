import type { Face } from '../faces.js';
import { dialAnyoneFace } from './dialanyone/dialanyone-face.js';
import { dialLinkFaces } from './diallink/diallink-face.js';

/** The faces the server serves, each under its own prefix. A face only translates its document to core calls. */
export const allFaces: readonly Face[] = [dialAnyoneFace, ...dialLinkFaces];
