import type { Face } from '../faces.js';
import { dialFace } from './dial/dial-face.js';
import { dialAnyoneFace } from './dialanyone/dialanyone-face.js';
import { webFonesFace } from './webfones/webfones-face.js';
import { voice2PhoneFace } from './voice2phone/voice2phone-face.js';
import { dialLinkFaces } from './diallink/diallink-face.js';

/** The faces the server serves, each under its own prefix. A face only translates its document to core calls. */
export const allFaces: readonly Face[] = [dialAnyoneFace, dialFace, webFonesFace, voice2PhoneFace, ...dialLinkFaces];
