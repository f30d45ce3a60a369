import { DialplaneError } from '../errors.js';

/**
 * Israeli domestic numbering as gateway clients write it: a trunk 0, then the area or service code, then the
 * subscriber number, digits only.
 *
 *   landline 02 03 04 08 09 + 7 digits            (9 digits in all, e.g. 031234567)
 *   mobile   050-055, 058  + 7 digits             (10 digits, e.g. 0527121102)
 *   VoIP     072 073 074 076 077 079 + 7 digits   (10 digits, e.g. 0721234567)
 */
const DOMESTIC = /^0(?:[23489]\d{7}|5[0-58]\d{7}|7[234679]\d{7})$/;

export type IsraeliNumberKind = 'landline' | 'mobile' | 'voip';

/** Whether the text is an Israeli domestic number of one of the kinds above. */
export function isIsraeliDomestic(value: unknown): value is string {
  return typeof value === 'string' && DOMESTIC.test(value);
}

export function israeliNumberKind(domestic: string): IsraeliNumberKind {
  const code = domestic[1];
  return code === '5' ? 'mobile' : code === '7' ? 'voip' : 'landline';
}

/** The E.164 form the trunk is given (0527121102 → +972527121102), or invalid_phone_number naming the field. */
export function israeliToE164(value: unknown, field: string): string {
  if (!isIsraeliDomestic(value)) {
    throw new DialplaneError(
      'invalid_phone_number',
      `${field} must be an Israeli domestic number: landline 02/03/04/08/09, mobile 050-055/058 or VoIP 072/073/074/076/077/079, digits only (e.g. 0527121102)`,
      { field },
    );
  }
  return `+972${value.slice(1)}`;
}

/** The domestic form of an Israeli E.164 number (+972527121102 → 0527121102); other numbers as they are. */
export function e164ToIsraeli(e164: string): string {
  return e164.startsWith('+972') ? `0${e164.slice(4)}` : e164;
}
