/** SDP bodies from the RFCs and in the shapes common SIP stacks send. Written with LF; crlf() converts. */
export function crlf(text: string): string {
  return text.replace(/\n/g, '\r\n');
}

/** RFC 4317 §2.1 (Alice's offer): empty s=, host names, static types with rtpmap, a video stream. */
export const RFC4317_AUDIO_VIDEO_OFFER = crlf(`v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=
c=IN IP4 host.atlanta.example.com
t=0 0
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
`);

/** A PBX offer: PCMA preferred, GSM we lack, telephone-event 101, extra attributes we ignore. */
export const PBX_OFFER = crlf(`v=0
o=- 1234 1235 IN IP4 203.0.113.10
s=Asterisk
c=IN IP4 203.0.113.10
b=AS:64
t=0 0
m=audio 10000 RTP/AVP 8 0 3 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:3 GSM/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
`);

/** An old phone: static types without rtpmap, media-level c=, LF line ends and trailing blank lines. */
export const BARE_STATIC_OFFER = `v=0
o=CiscoSystemsSIP-GW-UserAgent 9263 1 IN IP4 198.51.100.20
s=SIP Call
t=0 0
m=audio 16384 RTP/AVP 18 0
c=IN IP4 198.51.100.20


`;

/** A softphone with wideband codecs first and telephone-event at two rates. */
export const WIDEBAND_OFFER = crlf(`v=0
o=- 3850296117 3850296117 IN IP4 192.0.2.55
s=softphone
c=IN IP4 192.0.2.55
t=0 0
m=audio 5004 RTP/AVP 111 9 0 8 110 126
a=rtpmap:111 opus/48000/2
a=fmtp:111 useinbandfec=1
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=fmtp:126 0-15
a=ptime:20
`);

/** IPv6, putting us on hold with sendonly. */
export const IPV6_HOLD_OFFER = crlf(`v=0
o=- 42 43 IN IP6 2001:db8::10
s=-
c=IN IP6 2001:db8::10
t=0 0
m=audio 40000 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
a=sendonly
`);

/** RFC 2543-style hold: c=0.0.0.0, and the direction set at session level. */
export const ZERO_ADDRESS_HOLD_OFFER = crlf(`v=0
o=- 7 8 IN IP4 203.0.113.77
s=-
c=IN IP4 0.0.0.0
t=0 0
a=sendrecv
m=audio 20000 RTP/AVP 8
`);

/** A fax gateway offering T.38 alongside audio. */
export const AUDIO_AND_T38_OFFER = crlf(`v=0
o=- 1 1 IN IP4 203.0.113.5
s=-
c=IN IP4 203.0.113.5
t=0 0
m=image 30000 udptl t38
a=T38FaxVersion:0
m=audio 30002 RTP/AVP 0
`);

/** SRTP only: we do no SRTP. */
export const SRTP_OFFER = crlf(`v=0
o=- 1 1 IN IP4 203.0.113.5
s=-
c=IN IP4 203.0.113.5
t=0 0
m=audio 30002 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32
`);

/** Codecs we lack only. */
export const G729_ONLY_OFFER = crlf(`v=0
o=- 1 1 IN IP4 203.0.113.5
s=-
c=IN IP4 203.0.113.5
t=0 0
m=audio 30002 RTP/AVP 18
a=rtpmap:18 G729/8000
`);

/** A phone that only listens (a paging speaker, a recorder): recvonly at media level. */
export const RECVONLY_OFFER = crlf(`v=0
o=- 100 100 IN IP4 203.0.113.20
s=-
c=IN IP4 203.0.113.20
t=0 0
m=audio 40000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=recvonly
`);

/** Media parked: inactive at session level, no media-level direction. */
export const INACTIVE_SESSION_OFFER = crlf(`v=0
o=- 200 201 IN IP4 203.0.113.21
s=-
c=IN IP4 203.0.113.21
t=0 0
a=inactive
m=audio 40002 RTP/AVP 8
a=rtpmap:8 PCMA/8000
`);

/** A session-level sendonly that the media line overrides with sendrecv (RFC 4566 §6: media level wins). */
export const OVERRIDDEN_SESSION_DIRECTION_OFFER = crlf(`v=0
o=- 300 300 IN IP4 203.0.113.22
s=-
c=IN IP4 203.0.113.22
t=0 0
a=sendonly
m=audio 40004 RTP/AVP 0
a=sendrecv
`);

/** Music on hold from a PBX: sendonly at session level. */
export const SENDONLY_SESSION_OFFER = crlf(`v=0
o=- 400 401 IN IP4 203.0.113.23
s=-
c=IN IP4 203.0.113.23
t=0 0
a=sendonly
m=audio 40006 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
`);

/** RFC 4568 §8.1-style SDES offer: RTP/SAVP, two suites with lifetimes and MKIs, one with session parameters. */
export const RFC4568_SAVP_OFFER = crlf(`v=0
o=sam 2890844526 2890842807 IN IP4 192.0.2.5
s=SRTP Discussion
i=A discussion of Secure RTP
u=http://www.example.com/seminars/srtp.pdf
e=marge@example.com (Marge Simpson)
c=IN IP4 192.0.2.12
t=2873397496 2873404696
m=audio 49170 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP
a=crypto:2 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP
`);

/** What a softphone with mandatory SDES sends (baresip mediaenc=srtp-mand): RTP/SAVP, both suites, no lifetime. */
export const SOFTPHONE_SAVP_OFFER = crlf(`v=0
o=- 1169419906 1640133421 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 10140 RTP/SAVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:ZKcMPIlW2rT7CLdtQ83VhYg3xLy0HGeRbnUeRa0y
a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:2rsmiRVDgrr0w0oyfGVn6YwX6JAdjzuF44ItpU2p
`);

/** Best-effort SDES: RTP/AVP carrying a crypto line (a phone with optional SRTP). */
export const BEST_EFFORT_SRTP_OFFER = crlf(`v=0
o=- 42 42 IN IP4 198.51.100.7
s=-
c=IN IP4 198.51.100.7
t=0 0
m=audio 20000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:2rsmiRVDgrr0w0oyfGVn6YwX6JAdjzuF44ItpU2p|2^31
`);
