import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { badRequestReason } from '../../../../src/sip/ua/build.js';
import { SipStack } from '../../../../src/sip/ua/sip-stack.js';

/**
 * Found by the SIP abuse test: a request whose Via carried a NUL where a parameter separator belongs was answered
 * `400 Bad Request (expected ";" in parameters, found "<NUL>")`, the NUL copied into the reason phrase, which RFC 3261
 * §25.1 does not allow: the answer to a malformed request was itself malformed.
 */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

test('a 400 reason phrase carries no control character of the request, and is cut when long', () => {
  assert.equal(badRequestReason(new Error('expected ";" in parameters, found "\u0000"')), 'Bad Request (expected ";" in parameters, found "?")');
  assert.equal(badRequestReason(new Error('a\u001b[31mb\u007fc\td')), 'Bad Request (a?[31mb?c\td)');
  const long = badRequestReason(new Error('x'.repeat(500)));
  assert.equal(long, `Bad Request (${'x'.repeat(100)}...)`);
  assert.equal(badRequestReason('not an Error'), 'Bad Request (not an Error)');
});

test('a 400 reason phrase carries no control character: a NUL in a Via parameter, answered on the wire', async () => {
  const stack = new SipStack({ host: '127.0.0.1', port: 0 });
  const port = await stack.start();
  stack.setHandlers({ onRequest: (incoming) => incoming.respond(200, 'OK') });
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  try {
    const via = `SIP/2.0/UDP 127.0.0.1:${socket.address().port};branch=z9hG4bKnul;a\u0000\u001b[31m=1`;
    const request = Buffer.from(
      `OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: ${via}\r\nMax-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n` +
        'To: <sip:probe@127.0.0.1>\r\nCall-ID: nul-in-via\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
      'latin1',
    );
    const answer = new Promise<string>((resolve) => socket.once('message', (data) => resolve(data.toString('latin1'))));
    socket.send(request, port, '127.0.0.1');
    const text = await Promise.race([answer, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no answer')), 3_000))]);
    const statusLine = text.split('\r\n')[0]!;
    assert.match(statusLine, /^SIP\/2\.0 400 Bad Request \(/);
    assert.doesNotMatch(statusLine, CONTROL, JSON.stringify(statusLine));
  } finally {
    socket.close();
    await stack.stop();
  }
});
