import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CallControl, CallView } from '../../../core/calls/call-control.js';
import type { Call } from '../../../core/calls/call-service.js';
import type { Program, Verb } from '../../../core/calls/program.js';
import { isKnownCountry, normalizePhoneNumber } from '../../../core/phone-number.js';
import type { Services } from '../../../core/services.js';
import { DialplaneError } from '../../../errors.js';
import { dialplaneValidationError } from '../../dialplane/policy.js';
import { documentTime, voice2PhoneRoute } from './policy.js';

/** The longest Message or Dtmf reply: about a minute of speech, well inside a say verb's 4,096 characters. */
export const MESSAGE_MAX_CHARS = 1_000;
/** Seconds the call waits for a key after the message has been said. */
export const KEY_TIMEOUT_S = 5;
/** How long a Voice2Phone call may last once answered: the message twice and a reply fit many times over. */
export const MAX_CALL_S = 600;

/** The document's Status integers. Published in the README, docs/voice2phone.md and the OpenAPI document. */
export const STATUS = Object.freeze({
  queued: 0,
  ringing: 1,
  in_progress: 2,
  completed: 3,
  busy: 4,
  no_answer: 5,
  failed: 6,
});

const STATUS_DESCRIPTION =
  '0 queued (accepted, being dialled), 1 ringing, 2 in progress (answered), 3 completed (answered, then hung up), ' +
  '4 busy, 5 no answer, 6 failed (refused, unreachable or not placed)';

const Text = (description: string) =>
  Type.String({ minLength: 1, maxLength: MESSAGE_MAX_CHARS, pattern: '\\S', description });
const KEY_PATTERN = '^[0-9*#]$';

const MakeCall = Type.Object(
  {
    Phone: Type.Object(
      {
        Number: Type.String({ minLength: 1, maxLength: 40, description: 'the number to call, local (national) or international' }),
        CountryCode: Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166 alpha-2 country of a local number: US, CA, GB…' }),
      },
      { additionalProperties: false },
    ),
    Message: Text(`spoken once the call is answered; 1 to ${MESSAGE_MAX_CHARS} characters`),
    Dtmf: Type.Optional(
      Type.Union([
        Type.Record(Type.String({ pattern: KEY_PATTERN }), Text('the reply to that key'), {
          additionalProperties: false,
          description: 'a key (0-9, *, #) and the reply spoken when it is pressed, after which the call hangs up',
        }),
        Type.Null(),
      ]),
    ),
  },
  {
    additionalProperties: false,
    description: 'Keys in any letter case; bare (unquoted) keys as in the document are accepted.',
  },
);
type MakeCallBody = Static<typeof MakeCall>;

const CallCreated = Type.Object({ CallId: Type.String({ description: "Dialplane's call id (call_…)" }) });

const CallStatus = Type.Object({
  CallId: Type.String(),
  Status: Type.Integer({ minimum: 0, maximum: 6, description: STATUS_DESCRIPTION }),
  CreatedDateUtc: Type.String({ description: 'UTC, no zone suffix: 2016-08-01T18:33:08.997' }),
  UpdatedDateUtc: Type.String({ description: 'the last change of the call: a state or a key pressed' }),
  Dtmf: Type.Union([Type.String(), Type.Null()], { description: 'the key pressed (the last one, if several), or null' }),
});

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});
const errors = (...statuses: number[]) => Object.fromEntries([400, 401, 403, 429, ...statuses].map((s) => [s, ErrorBody]));

/** The document's names, for keys written in any letter case. */
const BODY_NAMES: Readonly<Record<string, string>> = { phone: 'Phone', message: 'Message', dtmf: 'Dtmf' };
const PHONE_NAMES: Readonly<Record<string, string>> = { number: 'Number', countrycode: 'CountryCode' };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A copy whose keys are the document's spelling; a name given twice (`Message` and `message`) is refused. */
function spelled(value: unknown, names: Readonly<Record<string, string>>, path: string): unknown {
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const name = names[key.toLowerCase()] ?? key;
    if (Object.hasOwn(out, name)) {
      throw new DialplaneError('validation_failed', `${path}${name} is given twice (names are read in any letter case)`, {
        location: 'body',
        field: `${path}${name}`,
      });
    }
    out[name] = name === 'Phone' ? spelled(item, PHONE_NAMES, 'Phone.') : item;
  }
  return out;
}

/**
 * The document's call as a program: say the message and wait for one key; a key in Dtmf says its reply and hangs up;
 * any other key, or none, says the message once more and waits again; then the call hangs up.
 */
export function messageProgram(message: string, replies: Readonly<Record<string, string>>): Program {
  const onDigits = Object.fromEntries(
    Object.entries(replies).map(([key, reply]): [string, Verb[]] => [key, [{ verb: 'say', text: reply }, { verb: 'hangup' }]]),
  );
  const ask: Verb = {
    verb: 'gather',
    numDigits: 1,
    finishOnKey: '',
    timeout: KEY_TIMEOUT_S,
    say: { text: message },
    ...(Object.keys(onDigits).length > 0 ? { onDigits } : {}),
  };
  return [ask, ask, { verb: 'hangup' }];
}

/** The document's Status of a call: its first leg's state, and how it ended. */
export function documentStatus(call: Call): number {
  switch (call.state) {
    case 'queued':
    case 'dialing':
      return STATUS.queued;
    case 'ringing':
    case 'early_media':
      return STATUS.ringing;
    case 'answered':
      return STATUS.in_progress;
    case 'ended':
      return call.outcome === 'completed' ? STATUS.completed
        : call.outcome === 'busy' ? STATUS.busy
        : call.outcome === 'no_answer' ? STATUS.no_answer
        : STATUS.failed;
  }
}

function statusView(view: CallView) {
  const pressed = view.gathered.filter((g) => g.digits !== '').at(-1);
  return {
    CallId: view.call.id,
    Status: documentStatus(view.call),
    CreatedDateUtc: documentTime(view.call.createdAt),
    UpdatedDateUtc: documentTime(view.updatedAt),
    Dtmf: pressed ? pressed.digits : null,
  };
}

function accountOf(request: FastifyRequest): string {
  if (!request.principal) throw new DialplaneError('missing_credentials');
  return request.principal.accountId;
}

/** POST /call and GET /call/{callId}, relative to the face's prefix. */
export function registerCallRoutes(app: FastifyInstance, services: Services, calls: CallControl): void {
  app.post<{ Body: MakeCallBody }>(
    '/call',
    {
      config: voice2PhoneRoute('calls'),
      schema: {
        tags: ['Voice2Phone'],
        summary: 'Call a phone, speak Message, answer the key pressed from Dtmf',
        security: [{ basic: [] }],
        body: MakeCall,
        response: { 200: CallCreated, ...errors(402) },
      },
      // Names the field at fault: a missing one, an unknown one (Dtmf.12), a wrong type or value.
      schemaErrorFormatter: dialplaneValidationError,
      // The document's names in any letter case become its own spelling before the schema checks them.
      preValidation: async (request) => {
        request.body = spelled(request.body, BODY_NAMES, '') as MakeCallBody;
      },
    },
    async (request) => {
      const accountId = accountOf(request);
      const { Phone, Message, Dtmf } = request.body;
      const country = Phone.CountryCode.toUpperCase();
      if (!isKnownCountry(country)) {
        throw new DialplaneError('validation_failed', `Phone.CountryCode ${JSON.stringify(Phone.CountryCode)} is not an ISO 3166 alpha-2 country code`, {
          location: 'body',
          field: 'Phone.CountryCode',
        });
      }
      const to = normalizePhoneNumber(Phone.Number, country, 'Phone.Number');
      const from = await services.numbers.defaultCallerId(accountId);
      const call = await calls.start(accountId, {
        from,
        to: [{ type: 'phone', number: to }],
        program: messageProgram(Message, Dtmf ?? {}),
        prepayFor: [to],
        maxDurationS: MAX_CALL_S,
        metadata: { voice2phone: { country } },
      });
      return { CallId: call.id };
    },
  );

  app.get<{ Params: { callId: string } }>(
    '/call/:callId',
    {
      config: voice2PhoneRoute('other'),
      schema: {
        tags: ['Voice2Phone'],
        summary: "A call's status, times and the key pressed",
        security: [{ basic: [] }],
        params: Type.Object({ callId: Type.String() }),
        response: { 200: CallStatus, ...errors(404) },
      },
    },
    async (request) => statusView(await calls.view(accountOf(request), request.params.callId)),
  );
}
