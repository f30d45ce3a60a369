/**
 * The Voice2Phone document's own request body is not strict JSON: its object keys are written without quotes
 * (`{ Phone: { "Number": "4252337837", ... }, Message: "..." }`). A client copying it sends exactly that, so the face
 * reads JSON plus what the example needs: object keys that are bare identifiers (letters, digits, `_`, `$`, not
 * starting with a digit), and a trailing comma before `}` or `]`, which hand-edited bodies often carry. Everything
 * else is JSON.parse's: a body this does not read is answered 400 `invalid_json`.
 */
export function parseRelaxedJson(text: string): unknown {
  return JSON.parse(toStrictJson(text));
}

const IDENTIFIER_START = /[A-Za-z_$]/;
const IDENTIFIER_PART = /[A-Za-z0-9_$]/;
const SPACE = /[ \t\n\r]/;

/** Quotes bare keys and drops trailing commas, outside strings only; everything else is copied unchanged. */
export function toStrictJson(text: string): string {
  let out = '';
  /** The last character written that is not white space: a key follows `{` or `,`. */
  let last = '';
  let i = 0;
  const next = (from: number) => {
    let k = from;
    while (k < text.length && SPACE.test(text[k]!)) k++;
    return text[k];
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      last = '"';
      i = j + 1;
      continue;
    }
    if (IDENTIFIER_START.test(c)) {
      let j = i + 1;
      while (j < text.length && IDENTIFIER_PART.test(text[j]!)) j++;
      const word = text.slice(i, j);
      out += (last === '{' || last === ',') && next(j) === ':' ? JSON.stringify(word) : word;
      last = word.at(-1)!;
      i = j;
      continue;
    }
    if (c === ',' && (next(i + 1) === '}' || next(i + 1) === ']')) {
      i += 1;
      continue;
    }
    out += c;
    if (!SPACE.test(c)) last = c;
    i += 1;
  }
  return out;
}
