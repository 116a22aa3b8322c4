import { createHmac, createSign } from 'node:crypto';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { BAD_PIPELINES } from '../../libs/read-models/test/bad-pipelines';

/**
 * Hostile requests for every endpoint of API.md (analytics aside), as fast-check arbitraries. Each request carries
 * the codes the server may answer it with; none of them may move the event store. The world (sales, orders,
 * tokens) is made by the spec before anything hostile is generated, so that invalid requests hit real resources.
 */

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS';
type Headers = Record<string, string | string[]>;

/**
 * API.md's error codes with their status and retryability; NOT_READY, ORDER_NOT_CANCELLABLE, QUERY_TOO_LARGE,
 * PAYMENT_ID_REUSED and REQUEST_TIMEOUT are the server's additions.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, retryable: false },
  UNAUTHENTICATED: { status: 401, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  BLOCKED: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  SALE_NOT_STARTED: { status: 403, retryable: true },
  SALE_ENDED: { status: 403, retryable: false },
  INVALID_PURCHASE_TOKEN: { status: 403, retryable: false },
  CHALLENGE_FAILED: { status: 403, retryable: false },
  SOLD_OUT: { status: 409, retryable: false },
  LIMIT_EXCEEDED: { status: 409, retryable: false },
  IDEMPOTENCY_KEY_REUSED: { status: 422, retryable: false },
  ORDER_NOT_PAYABLE: { status: 409, retryable: false },
  ORDER_NOT_CANCELLABLE: { status: 409, retryable: false },
  PAYMENT_ID_REUSED: { status: 409, retryable: false },
  RATE_LIMITED: { status: 429, retryable: true },
  OVERLOADED: { status: 503, retryable: true },
  DEGRADED: { status: 503, retryable: true },
  NOT_READY: { status: 503, retryable: true },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  QUERY_TIMEOUT: { status: 422, retryable: false },
  QUERY_TOO_LARGE: { status: 422, retryable: false },
  REQUEST_TIMEOUT: { status: 408, retryable: true },
} as const;
export type Code = keyof typeof ERROR_CODES;

export interface Hostile {
  /** The endpoint table entry it was generated for, and what makes it hostile. */
  readonly endpoint: string;
  readonly attack: string;
  readonly method: Method;
  readonly path: string;
  readonly headers: Headers;
  readonly body?: string | Buffer;
  /** The codes the server may answer with; 'OK' only for harmless junk around a health check, which may succeed. */
  readonly expect: readonly (Code | 'OK')[];
}

export interface Order {
  readonly orderId: string;
  readonly userId: string;
}

export interface World {
  readonly jwtSecret: string;
  readonly webhookSecret: string;
  /** PEM, for RS256 tokens the server must refuse. */
  readonly rsaPrivateKey: string;
  readonly sales: {
    /** Open, perUserLimit 2; `atLimit` holds 2 of it. */
    readonly open: string;
    readonly future: string;
    readonly ended: string;
    /** Open, challenge "pow". */
    readonly pow: string;
    /** Open; its one order has expired. */
    readonly shortHold: string;
  };
  readonly orders: { readonly reserved: Order; readonly paid: Order; readonly cancelled: Order; readonly expired: Order };
  /** The paymentId that paid `orders.paid`: it may pay no other order. */
  readonly paidPaymentId: string;
  readonly users: {
    /** Two orders of the open sale (its limit): one reserved, one paid. */
    readonly atLimit: string;
    /** Cancelled their order. */
    readonly canceller: string;
    /** Their order expired. */
    readonly expiredBuyer: string;
    /** Holds a purchase token and a challenge for the pow sale. */
    readonly powBuyer: string;
    /** On the blacklist. */
    readonly blocked: string;
  };
  /** The blacklist entry of `users.blocked`: no hostile DELETE may name it. */
  readonly blockedEntry: string;
  /** An Idempotency-Key `atLimit` used for the reserved order (quantity 1) of the open sale. */
  readonly knownKey: string;
  /** Valid for 120 s: the spec renews them between batches. */
  readonly purchaseTokens: {
    /** atLimit's, for the open sale. */
    atLimitOpen: string;
    /** canceller's, for the open sale: worthless in anyone else's hands. */
    cancellerOpen: string;
    /** atLimit's, for the short-hold sale: worthless for the open sale. */
    atLimitShortHold: string;
    /** powBuyer's, for the pow sale. */
    powBuyerPow: string;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------------------------

const BODY_LIMIT = 16_384;
/** Node's limit on the request line and headers together. */
const HEAD_LIMIT = 16_384;
const json = { 'content-type': 'application/json' } as const;
const b64url = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const nowS = (): number => Math.floor(Date.now() / 1000);
const USER_ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-';

/** Signs any header and payload text with HMAC (HS256 unless told), as is: `1e400`, repeated claims. */
const hmacJwtText = (secret: string, header: Record<string, unknown>, payload: string, hash = 'sha256'): string => {
  const signingInput = `${b64url(header)}.${b64url(payload)}`;
  return `${signingInput}.${createHmac(hash, secret).update(signingInput).digest('base64url')}`;
};

/** Signs any header and payload with HMAC (HS256 unless told), so tokens can carry claims a library would refuse to sign. */
export const hmacJwt = (secret: string, header: Record<string, unknown>, payload: Record<string, unknown>, hash = 'sha256'): string =>
  hmacJwtText(secret, header, JSON.stringify(payload), hash);

export const goodToken = (w: World, sub: string, roles: string[] = []): string =>
  hmacJwt(w.jwtSecret, { alg: 'HS256', typ: 'JWT' }, { sub, iat: nowS(), exp: nowS() + 3600, ...(roles.length ? { roles } : {}) });

export const bearer = (token: string): Headers => ({ authorization: `Bearer ${token}` });

export const signWebhook = (w: World, raw: string | Buffer): string => createHmac('sha256', w.webhookSecret).update(raw).digest('hex');

/** Lone surrogates have no UTF-8 form: the wire would carry U+FFFD anyway, so say so before percent-encoding. */
const wellFormed = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');
const encodeSegment = (s: string): string => encodeURIComponent(wellFormed(s));

/** Strings meant to break things: control characters, bidi overrides, injections, lone surrogates, very long text. */
const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '\u0000',
    '\u0000admin',
    '\u202eadmin',
    '\ufeff',
    '\ud800',
    '\udfff\ud800',
    '\u200b',
    '../../etc/passwd',
    '..\\..\\windows\\win.ini',
    '%00',
    '%252e%252e',
    '<script>alert(1)</script>',
    "' OR 1=1 --",
    '"; DROP TABLE events; --',
    '${jndi:ldap://x/a}',
    '{{7*7}}',
    '__proto__',
    'constructor',
    'prototype',
    'NaN',
    'Infinity',
    '-0',
    '\r\n\r\nHTTP/1.1 200 OK',
    '𝕏'.repeat(300),
    'é'.repeat(1000),
  ),
  fc.integer({ min: 1_000, max: 6_000 }).map((n) => 'A'.repeat(n)),
);

/** Header values undici can send (tab, printable ASCII and Latin-1; no CR, LF or NUL). */
const headerJunk: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.constantFrom(...Array.from({ length: 0x5f }, (_, i) => String.fromCharCode(0x20 + i)), '\t', 'é', '\u00ff', '\u00a0'), maxLength: 60 }),
  fc.constantFrom('', ' ', '\t', '__proto__', 'null', 'undefined', '[object Object]', '../../', '%00', '\u00ff\u00fe'),
  fc.integer({ min: 500, max: 4_000 }).map((n) => 'x'.repeat(n)),
);

/** Raw JSON numbers and stand-ins no integer field accepts (-0 and 1.0 are left out: they are integers). */
const hugeNumbers = ['1e308', '-1e308', '1e400', '-1e400', '9007199254740993', '-9007199254740993', '1.5', '0.1', '"NaN"', '"Infinity"', '"-0"'];
const notNumbers = ['"1"', 'true', 'false', '[]', '[1]', '{}', '{"$gt":0}', '"0x10"'];
const notStrings = ['1', '0', 'true', '[]', '["x"]', '{}', '{"$ne":null}', '1e308'];
/** A JSON value that is never valid where a number or a string is expected. */
const anyJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  nastyString.map((s) => JSON.stringify(s)),
  fc.constantFrom(...hugeNumbers, ...notNumbers, 'null'),
);

interface FieldSpec {
  /** Raw JSON texts this field must refuse. */
  readonly invalid: readonly string[];
  readonly required: boolean;
}

interface BodySpec {
  /** A body the route would accept (with the right auth and path) and the raw JSON for it. */
  readonly valid: (w: World) => Record<string, unknown>;
  readonly fields: Readonly<Record<string, FieldSpec>>;
  /** A nested object field (waitingRoom): pollution and unknown keys are also tried inside it. */
  readonly nested?: string;
}

const intField = (required: boolean, ...extra: string[]): FieldSpec => ({
  required,
  invalid: [...hugeNumbers, ...notNumbers, ...(required ? ['null'] : []), ...extra],
});
const stringField = (required: boolean, ...extra: string[]): FieldSpec => ({
  required,
  invalid: [...notStrings, ...(required ? ['null'] : []), '""', ...extra],
});

const btoaJson = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');
const iso = (ms: number): string => new Date(ms).toISOString();

/** Raw JSON object text from ordered [key, raw value] pairs, so values like -0 or 1e400 survive. */
const objectText = (pairs: ReadonlyArray<readonly [string, string]>): string => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
const pairsOf = (o: Record<string, unknown>): Array<[string, string]> => Object.entries(o).map(([k, v]) => [k, JSON.stringify(v)]);

/** Names class-transformer skips without telling class-validator (regression: they were ignored, not refused). */
const INHERITED_NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', '__defineGetter__', '__lookupSetter__'];

interface BadBody {
  readonly attack: string;
  readonly body: string | Buffer;
  readonly headers: Headers;
  /** Over the body limit: PAYLOAD_TOO_LARGE. */
  readonly oversize?: boolean;
  /** Not sent as JSON (the webhook then cannot verify a signature: UNAUTHENTICATED). */
  readonly notJson?: boolean;
}

/** Invalid JSON bodies: every one must be refused with VALIDATION_FAILED (or PAYLOAD_TOO_LARGE when over 16 KB). */
const invalidBodies = (spec: BodySpec, w: World): fc.Arbitrary<BadBody> => {
  const base = (): Array<[string, string]> => pairsOf(spec.valid(w));
  const fieldNames = Object.keys(spec.fields);
  const required = fieldNames.filter((f) => spec.fields[f]!.required);
  const unknownName = fc.oneof(
    fc.string({ maxLength: 30 }).filter((k) => !(k in spec.fields) && k !== '__proto__'),
    fc.constantFrom('prototype', 'admin', 'roles', 'isAdmin', 'id', 'saleId', 'userId ', ' quantity', 'QUANTITY', '', '\u0000', '$where', 'a.b', ...INHERITED_NAMES),
  ).filter((k) => !(k in spec.fields));
  const withJson =
    (attack: string) =>
    (body: string): BadBody => ({ attack, body, headers: { ...json } });

  const wrongField = fc
    .constantFrom(...fieldNames)
    .chain((f) => fc.tuple(fc.constant(f), fc.constantFrom(...spec.fields[f]!.invalid)))
    .map(([f, raw]) => withJson(`field ${f}=${raw.slice(0, 24)}`)(objectText(spec.fields[f]!.required ? base().map(([k, v]) => [k, k === f ? raw : v]) : [...base().filter(([k]) => k !== f), [f, raw]])));
  const missingField =
    required.length === 0
      ? wrongField
      : fc.constantFrom(...required).map((f) => withJson(`missing ${f}`)(objectText(base().filter(([k]) => k !== f))));
  const unknownField = fc
    .tuple(unknownName, anyJsonText)
    .map(([k, v]) => withJson(`unknown field ${JSON.stringify(k).slice(0, 24)}`)(objectText([...base(), [k, v]])));
  // A key named twice is refused whatever its values (JSON.parse would keep the last one without a word).
  const spelledOtherwise = (f: string): string => `"\\u${f.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(f).slice(2)}`;
  const duplicateKey = fc.oneof(
    fc
      .constantFrom(...fieldNames)
      .chain((f) => fc.tuple(fc.constant(f), fc.constantFrom(...spec.fields[f]!.invalid)))
      .map(([f, raw]) => withJson(`duplicate ${f}, invalid last`)(objectText([...base(), [f, raw]]))),
    fc
      .constantFrom(...fieldNames)
      .chain((f) => fc.tuple(fc.constant(f), fc.constantFrom(...spec.fields[f]!.invalid)))
      .map(([f, raw]) => withJson(`duplicate ${f}, invalid first, valid last`)(objectText([[f, raw], ...base()]))),
    fc.constantFrom(...fieldNames).map((f) => {
      const pairs = base();
      const valid = pairs.find(([k]) => k === f)?.[1] ?? spec.fields[f]!.invalid[0]!;
      return withJson(`duplicate ${f}, the same valid value twice`)(objectText([...pairs, [f, valid]]));
    }),
    fc.constantFrom(...fieldNames.filter((f) => f.length > 0)).map((f) => {
      const pairs = base();
      const valid = pairs.find(([k]) => k === f)?.[1] ?? spec.fields[f]!.invalid[0]!;
      return withJson(`duplicate ${f} under an escaped spelling`)(`${objectText(pairs).slice(0, -1)},${spelledOtherwise(f)}:${valid}}`);
    }),
  );
  const pollutionValue = fc.constantFrom('{"admin":true}', '{"roles":["admin"]}', '{"polluted":1}', '[]', '1', 'null', '{"prototype":{"x":1}}');
  const pollution = fc
    .tuple(
      fc.constantFrom('"__proto__"', '"\\u005f_proto__"', '"__pro\\u0074o__"', '"constructor"', '"prototype"'),
      pollutionValue,
      fc.constantFrom('first', 'last', 'nested', 'deep'),
    )
    .map(([key, value, where]) => {
      const constructorValue = key === '"constructor"' ? `{"prototype":${value}}` : value;
      const member = `${key}:${constructorValue}`;
      const pairs = base().map(([k, v]) => `${JSON.stringify(k)}:${v}`);
      let body: string;
      if (where === 'first') body = `{${[member, ...pairs].join(',')}}`;
      else if (where === 'last') body = `{${[...pairs, member].join(',')}}`;
      else if (where === 'nested' && spec.nested !== undefined) {
        const nested = base().map(([k, v]): [string, string] => (k === spec.nested ? [k, v.replace(/^\{/, `{${member},`)] : [k, v]));
        body = objectText(nested);
      } else body = `{${[...pairs, `"wrapper":{"inner":{${member}}}`].join(',')}}`;
      return withJson(`pollution ${key} ${where}`)(body);
    });
  const nestedUnknown =
    spec.nested === undefined
      ? unknownField
      : fc
          .tuple(fc.constantFrom('extra', 'toString', 'constructor', 'valueOf', 'hasOwnProperty', 'enabled ', ''), anyJsonText)
          .map(([k, v]) =>
            withJson(`unknown nested ${spec.nested}.${k}`)(
              objectText(base().map(([f, raw]) => (f === spec.nested ? [f, raw.replace(/\}$/, `,${JSON.stringify(k)}:${v}}`)] : [f, raw]))),
            ),
          );
  const malformed = fc.oneof(
    fc.nat().map((n) => {
      const text = objectText(base());
      return withJson('truncated JSON')(text.slice(0, n % text.length));
    }),
    fc
      .constantFrom('}', 'x', ',', '}}', ']', ' garbage', '\u0000', '/*c*/', '\n{"a":1}')
      .map((tail) => withJson(`trailing ${JSON.stringify(tail)}`)(objectText(base()) + tail)),
    fc.constant(withJson('single quotes')(objectText(base()).replace(/"/g, "'"))),
    fc.constant(withJson('unquoted keys')(objectText(base()).replace(/"([A-Za-z]+)":/g, '$1:'))),
    fc.constant(withJson('trailing comma')(objectText(base()).replace(/\}$/, ',}'))),
    fc.constantFrom('NaN', 'Infinity', '-Infinity', 'undefined', '0x1F', '01', '+1', '.5').map((raw) =>
      withJson(`literal ${raw}`)(objectText(base().map(([k, v], i) => [k, i === 0 ? raw : v]))),
    ),
    fc.constant(withJson('raw control character in a string')(objectText([...base(), ['note', '"a\u0001\u001fb"']]))),
    fc.constant<BadBody>({ attack: 'invalid UTF-8 outside strings', body: Buffer.concat([Buffer.from('{'), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from(objectText(base()).slice(1))]), headers: { ...json } }),
    fc.constantFrom('', ' ', '\n', '{', '[', '"', 'null', 'true', '0', '"a string"', '[]', '[{}]', JSON.stringify([1, 2, 3])).map((raw) => withJson(`top level ${JSON.stringify(raw)}`)(raw)),
    fc.constant(withJson('array of the valid body')(`[${objectText(base())}]`)),
  );
  const deep = fc.tuple(fc.integer({ min: 40, max: 7_000 }), fc.constantFrom('[', '{"a":'), fc.constantFrom(...fieldNames)).map(([depth, open, f]) => {
    const close = open === '[' ? ']' : '}';
    const nested = `${open.repeat(depth)}1${close.repeat(depth)}`;
    return withJson(`nested ${depth} deep in ${f}`)(objectText([...base().filter(([k]) => k !== f), [f, nested]]));
  });
  const wrongType = fc
    .constantFrom(
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=xyz',
      'application/xml',
      'text/json',
      'application/json-patch+json',
      'application/vnd.api+json',
      'application/octet-stream',
      'image/png',
      '',
      'json',
      '*/*',
      'application/',
      '/json',
      ';;;',
      'application/json\u00ff',
      '__proto__',
    )
    .map((contentType): BadBody => ({ attack: `content-type ${JSON.stringify(contentType)}`, body: objectText(base()), headers: { 'content-type': contentType }, notJson: true }));
  const noContentType = fc.constant(null).map((): BadBody => ({ attack: 'no content-type', body: objectText(base()), headers: {}, notJson: true }));
  const oversize = fc.tuple(fc.integer({ min: BODY_LIMIT + 1, max: 64_000 }), fc.boolean()).map(([size, valid]): BadBody => {
    const body = valid ? objectText([...base(), ['padding', JSON.stringify('p'.repeat(size))]]) : 'z'.repeat(size);
    return { attack: `oversized ${size} B`, body, headers: { ...json }, oversize: true };
  });
  return fc
    .oneof(
    { arbitrary: wrongField, weight: 6 },
    { arbitrary: missingField, weight: 2 },
    { arbitrary: unknownField, weight: 3 },
    { arbitrary: duplicateKey, weight: 2 },
    { arbitrary: pollution, weight: 3 },
    { arbitrary: nestedUnknown, weight: 1 },
    { arbitrary: malformed, weight: 4 },
    { arbitrary: deep, weight: 1 },
    { arbitrary: wrongType, weight: 2 },
    { arbitrary: noContentType, weight: 1 },
    { arbitrary: oversize, weight: 1 },
  )
    .map((bad) => ({ ...bad, oversize: bad.oversize === true || Buffer.byteLength(bad.body) > BODY_LIMIT }));
};

// ---------------------------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------------------------

/** Authorization headers every authenticated route must answer with UNAUTHENTICATED (they claim admin, in case one got through). */
export const badAuth = (w: World): fc.Arbitrary<{ attack: string; headers: Headers }> => {
  const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'chaos-intruder', roles: ['admin'], iat: nowS(), exp: nowS() + 3600, ...extra });
  const hs = (payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }) => hmacJwt(w.jwtSecret, header, payload);
  const as = (attack: string) => (token: string) => ({ attack: `token: ${attack}`, headers: bearer(token) });
  const goodAdmin = () => goodToken(w, 'chaos-intruder', ['admin']);
  return fc.oneof(
    fc.constant({ attack: 'no Authorization', headers: {} }),
    fc
      .constantFrom('Bearer', 'Bearer ', 'Bearer  ', 'bearer', 'Basic YWRtaW46YWRtaW4=', 'Token abc', 'Digest username="admin"', 'Bearer null', 'Bearer undefined')
      .map((value) => ({ attack: `Authorization ${JSON.stringify(value)}`, headers: { authorization: value } })),
    headerJunk.map((junk) => ({ attack: 'garbage bearer', headers: { authorization: `Bearer ${junk}` } })),
    fc.constantFrom('a.b.c', '..', '...', 'x.y', 'e30.e30.', 'e30.e30.e30', 'e30', '.e30.').map(as('dots')),
    fc
      .tuple(fc.constantFrom('none', 'None', 'NONE', 'nOnE', ''), fc.constantFrom('', 'sig', 'AAAA'))
      .map(([alg, sig]) => as(`alg ${JSON.stringify(alg)}`)(`${b64url({ alg, typ: 'JWT' })}.${b64url(claims())}.${sig}`)),
    fc.constantFrom(['HS512', 'sha512'], ['HS384', 'sha384']).map(([alg, hash]) => as(alg)(hmacJwt(w.jwtSecret, { alg, typ: 'JWT' }, claims(), hash))),
    fc.constant(null).map(() => {
      const input = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims())}`;
      return as('RS256')(`${input}.${createSign('RSA-SHA256').update(input).sign(w.rsaPrivateKey).toString('base64url')}`);
    }),
    fc.constantFrom('RS256', 'ES256', 'PS256', 'EdDSA', 'HS256 ', 'hs256').map((alg) => as(`alg ${alg} with an HMAC signature`)(hs(claims(), { alg, typ: 'JWT' }))),
    fc
      .string({ minLength: 1, maxLength: 40 })
      .filter((s) => s !== w.jwtSecret)
      .map((secret) => as('wrong secret')(hmacJwt(secret, { alg: 'HS256', typ: 'JWT' }, claims()))),
    fc.integer({ min: 1, max: 2_000_000_000 }).map((ago) => as('expired')(hs(claims({ exp: nowS() - ago })))),
    fc.constant(null).map(() => as('no exp')(hs({ sub: 'chaos-intruder', roles: ['admin'], iat: nowS() }))),
    fc.constantFrom<unknown>('9999999999', null, true, [9_999_999_999], {}, '').map((exp) => as(`exp ${JSON.stringify(exp)}`)(hs(claims({ exp })))),
    fc.integer({ min: 60, max: 100_000_000 }).map((ahead) => as('nbf in the future')(hs(claims({ nbf: nowS() + ahead })))),
    // Longer-lived than JWT_MAX_TTL_S (a day by default): a far exp, exp − iat over a day, an exp JSON.parse makes Infinity.
    fc.constantFrom(1e12, 1e15, Number.MAX_SAFE_INTEGER, 1e308).map((exp) => as(`exp ${exp}`)(hs(claims({ exp })))),
    fc.integer({ min: 86_401, max: 10 * 365 * 86_400 }).map((ahead) => as(`lifetime of ${ahead} s`)(hs(claims({ exp: nowS() + ahead })))),
    fc.integer({ min: 86_401, max: 100_000_000 }).map((ago) => as(`issued ${ago} s before a near exp`)(hs(claims({ iat: nowS() - ago, exp: nowS() + 60 })))),
    fc
      .constantFrom('1e400', '1E999', '9e999')
      .map((raw) => as(`exp ${raw} (Infinity)`)(hmacJwtText(w.jwtSecret, { alg: 'HS256', typ: 'JWT' }, `{"sub":"chaos-intruder","roles":["admin"],"exp":${raw}}`))),
    fc.constant(null).map(() => as('no sub')(hs({ roles: ['admin'], iat: nowS(), exp: nowS() + 3600 }))),
    fc.constantFrom<unknown>('', 42, null, true, ['admin'], { id: 'admin' }, 1e308).map((sub) => as(`sub ${JSON.stringify(sub)}`)(hs(claims({ sub })))),
    fc
      .tuple(fc.string({ maxLength: 30 }), fc.constantFrom(' ', '/', '\u0000', 'é', '\u202e', '<', '%', '#', '?', '\n', '@', '+', '\ud800', '😀'), fc.string({ maxLength: 30 }))
      .map(([a, bad, b]) => as('sub with a forbidden character')(hs(claims({ sub: `${a}${bad}${b}`.slice(0, 64) })))),
    fc
      .string({ unit: fc.constantFrom(...USER_ID_CHARS.split('')), minLength: 65, maxLength: 400 })
      .map((sub) => as(`sub of ${sub.length} chars`)(hs(claims({ sub })))),
    fc.constantFrom<unknown>('admin', { admin: true }, [1], [null], [['admin']], true, 1, [{}], null, '["admin"]').map((roles) => as(`roles ${JSON.stringify(roles)}`)(hs(claims({ roles })))),
    fc.constant(null).map(() => {
      const [header, , signature] = goodToken(w, 'chaos-intruder').split('.');
      return as('payload swapped under a valid signature')(`${header}.${b64url(claims())}.${signature}`);
    }),
    fc.integer({ min: 1, max: 40 }).map((cut) => as('truncated signature')(goodAdmin().slice(0, -cut))),
    fc.nat().map((n) => {
      const token = goodAdmin();
      const sigStart = token.lastIndexOf('.') + 1;
      // Not the last character: its low bits are padding, and base64url decoders ignore them.
      const at = sigStart + (n % (token.length - sigStart - 1));
      const flipped = token[at] === 'A' ? 'B' : 'A';
      return as('one signature character changed')(token.slice(0, at) + flipped + token.slice(at + 1));
    }),
    fc.constant(null).map(() => as('extra segment')(`${goodAdmin()}.x`)),
    fc.constant(null).map(() => as('crit header')(hs(claims(), { alg: 'HS256', typ: 'JWT', crit: ['x-chaos'], 'x-chaos': 1 }))),
    fc.constant(null).map(() => ({ attack: 'token: tab after Bearer', headers: { authorization: `Bearer\t${goodAdmin()}` } })),
    fc.constant(null).map(() => ({ attack: 'token: two tokens', headers: { authorization: `Bearer ${goodAdmin()} ${goodAdmin()}` } })),
    fc.integer({ min: 2_000, max: 9_000 }).map((n) => as('very long garbage')('A'.repeat(n))),
  );
};

/** Tokens the server may or may not accept (API.md does not say): iat in the future. Used only where either answer is known. */
const questionableBuyer = (w: World, sub: string): fc.Arbitrary<{ attack: string; headers: Headers }> =>
  fc.integer({ min: 3600, max: 100_000_000 }).map((ahead) => ({
    attack: 'token: iat in the future',
    headers: bearer(hmacJwt(w.jwtSecret, { alg: 'HS256', typ: 'JWT' }, { sub, iat: nowS() + ahead, exp: nowS() + ahead + 3600 })),
  }));

/** Valid tokens without the role a route needs: FORBIDDEN, whatever the body (analyst counts for staff routes). */
const withoutRole = (w: World, auth: 'admin' | 'staff'): fc.Arbitrary<{ attack: string; headers: Headers; questionable?: boolean }> =>
  fc.oneof(
    fc
      .constantFrom<string[]>([], ['analyst'], ['ADMIN'], ['admin '], ['Admin'], ['Analyst'], ['root'], ['superuser'], ['analyst', 'analyst'])
      .filter((roles) => auth === 'admin' || !roles.includes('analyst'))
      .map((roles) => ({
      attack: `buyer token, roles ${JSON.stringify(roles)}`,
      headers: bearer(goodToken(w, w.users.atLimit, roles)),
    })),
    questionableBuyer(w, w.users.atLimit).map((q) => ({ ...q, questionable: true })),
  );

// ---------------------------------------------------------------------------------------------------------------
// Paths, queries, headers
// ---------------------------------------------------------------------------------------------------------------

/** Path segments that are never a real resource: bad encodings, traversal, near misses of a real id, very long ids. */
const pathTricks = (real: string): fc.Arbitrary<{ attack: string; segment: string }> => {
  const trick = (attack: string) => (segment: string) => ({ attack: `path: ${attack}`, segment });
  const nearMisses = [
    real.toUpperCase() === real ? `${real}x` : real.toUpperCase(),
    `${real}%20`,
    `%20${real}`,
    `${real}.`,
    `${real}%E2%80%8B`,
    `${real}%00`,
    real.slice(0, -1),
    `${real}%2F..`,
    `${real};x=1`,
    `${real}%3Bx`,
    encodeURIComponent(`../${real}`),
    `${real}%09`,
  ];
  return fc.oneof(
    fc.constantFrom('%', '%Z', '%ZZ', '%E0%A4%A', '%C0%AE%C0%AE', '%ED%A0%80', '%FF', '%F0%9F', `${real}%`, `${real}%G0`).map(trick('bad percent-encoding')),
    fc
      .constantFrom('..', '.', '..%2F..%2Fadmin%2Fsales', '%2E%2E', '%2e%2e%2f', '..%5c..%5c', '%252e%252e%252f', '....%2F%2F', '..;', ';', '%3B', '%00', '%2F', '%5C', '~', '*', '%2A', '%3F', '%23x')
      .map(trick('traversal')),
    fc.constantFrom(...nearMisses).map(trick('near miss of a real id')),
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'null', 'undefined', 'NaN', '0', '-1', '1e308', '%5Bobject%20Object%5D', 'true').map(trick('special name')),
    nastyString.map((s) => trick('unicode or control characters')(encodeSegment(s))).filter((t) => t.segment.length > 0 && t.segment.length <= 100),
    fc.integer({ min: 101, max: 3_000 }).map((n) => trick(`${n}-char id`)('a'.repeat(n))),
    fc.uuid().map(trick('unknown uuid')),
  );
};

/** Junk after the `?`: pollution keys, bad escapes, brackets, repeats. Never changes what an invalid request gets. */
const queryJunk: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.tuple(nastyString, nastyString).map(([k, v]) => `${encodeSegment(k)}=${encodeSegment(v)}`),
      fc.constantFrom(
        '__proto__[admin]=1',
        '__proto__.admin=1',
        'constructor[prototype][admin]=1',
        'a[b][c][d]=1',
        'a[]=1&a[]=2',
        '%=1',
        'a=%ZZ',
        '%E0%A4%A=1',
        '=',
        '&&&',
        'userId=admin',
        'roles=admin',
        'level=3',
        'x=' + 'y'.repeat(1500),
        'a=1&a=2&a=3',
        'callback=alert(1)',
        '_method=DELETE',
      ),
    ),
    { minLength: 1, maxLength: 5 },
  )
  .map((parts) => `?${parts.join('&')}`);

/** Headers that must not change anything: proxies, overrides, cookies, odd Accept values. */
const junkHeaders: fc.Arbitrary<Headers> = fc
  .array(
    fc.oneof(
      fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), headerJunk).map(([name, value]): [string, string] => [`x-chaos-${name}`, value]),
      fc.constantFrom<[string, string]>(
        ['x-forwarded-for', '1.2.3.4, 10.0.0.1'],
        ['x-real-ip', '10.0.0.1'],
        ['x-http-method-override', 'DELETE'],
        ['x-original-url', '/admin/sales'],
        ['accept', 'application/xml'],
        ['accept', 'text/html;q=0.9, */*;q=0.1'],
        ['accept-encoding', 'gzip, deflate, br, zstd, *'],
        ['accept-language', 'zz'],
        ['cookie', '__proto__=x; admin=true'],
        ['origin', 'https://evil.example'],
        ['referer', 'javascript:alert(1)'],
        ['x-user-id', 'admin'],
        ['x-roles', 'admin'],
        ['if-none-match', '*'],
        ['range', 'bytes=0-0'],
        ['user-agent', '\u00ff'.repeat(200)],
      ),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => Object.fromEntries(pairs));

/** Idempotency-Key values the reservation route refuses (8–128 printable ASCII, no space). */
const badIdempotencyKey: fc.Arbitrary<{ attack: string; headers: Headers }> = fc.oneof<fc.Arbitrary<{ attack: string; headers: Headers }>[]>(
  fc.constant({ attack: 'no Idempotency-Key', headers: {} }),
  fc.stringMatching(/^[!-~]{0,7}$/).map((key) => ({ attack: `Idempotency-Key of ${key.length} chars`, headers: { 'idempotency-key': key } })),
  fc.integer({ min: 129, max: 4_000 }).map((n) => ({ attack: `Idempotency-Key of ${n} chars`, headers: { 'idempotency-key': 'k'.repeat(n) } })),
  fc
    .tuple(fc.stringMatching(/^[!-~]{4,60}$/), fc.constantFrom(' ', '\t', 'é', '\u00a0', '\u00ff'), fc.stringMatching(/^[!-~]{4,60}$/))
    .map(([a, bad, b]) => ({ attack: `Idempotency-Key with ${JSON.stringify(bad)}`, headers: { 'idempotency-key': `${a}${bad}${b}` } })),
  fc.constant({ attack: 'two Idempotency-Key headers', headers: { 'idempotency-key': ['chaos-key-dup-0001', 'chaos-key-dup-0002'] } }),
);

const freshKey: fc.Arbitrary<string> = fc.stringMatching(/^[A-Za-z0-9_-]{16,40}$/).map((s) => `chaos-${s}`);

/** What parseBlacklistEntry makes of a decoded entry: 404 when it names one that could exist, else 400. */
const blacklistCode = (entry: string): Code =>
  (entry.startsWith('user:') && entry.length > 5) || (entry.startsWith('ip:') && isIP(entry.slice(3)) !== 0) ? 'NOT_FOUND' : 'VALIDATION_FAILED';

// ---------------------------------------------------------------------------------------------------------------
// The endpoint table
// ---------------------------------------------------------------------------------------------------------------

/**
 * public: no auth. buyer: any signed-in user. admin / staff: role admin / admin or analyst (the analytics routes).
 * webhook: X-Signature. absent: a route that must not exist in this configuration (404 whatever comes).
 */
type Auth = 'public' | 'buyer' | 'admin' | 'staff' | 'webhook' | 'absent';

/** Hostile but well-formed requests the route must still refuse (ownership, tokens, timing, state). */
type Semantic = fc.Arbitrary<Omit<Hostile, 'endpoint' | 'method'> & { method?: Method }>;

export interface Endpoint {
  readonly method: Method;
  /** The route as API.md writes it; `:param` segments are filled by `path`. */
  readonly route: string;
  readonly auth: Auth;
  /** The path to a real resource (what the authentication, role, header and body attacks aim at). */
  readonly path: (w: World) => string;
  /** The principal that may call the route on `path` (apart from the body); absent for public and webhook routes. */
  readonly principal?: (w: World) => Headers;
  /** Builds the path with a hostile parameter and tells what that gets, given the raw segment and its decoded form. */
  readonly trickPath?: (w: World, segment: string) => string;
  /** The real parameter to avoid when making near misses. */
  readonly realParam?: (w: World) => string;
  /** What a parameter that names nothing gets: NOT_FOUND unless told. */
  readonly missingCode?: (decoded: string) => Code;
  readonly body?: (w: World) => BodySpec;
  /** Headers the route needs besides auth (a fresh Idempotency-Key). */
  readonly required?: () => fc.Arbitrary<Headers>;
  readonly semantic?: (w: World) => Semantic;
}

const reservationBody = (w: World): BodySpec => ({
  valid: () => ({ quantity: 1, purchaseToken: w.purchaseTokens.atLimitOpen }),
  fields: {
    quantity: intField(true, '0', '-1', '-0', '1000000001', '2147483648'),
    purchaseToken: stringField(true, JSON.stringify('t'.repeat(513))),
    challengeAnswer: stringField(false, JSON.stringify('c'.repeat(4097))),
  },
});

const saleBody = (): BodySpec => ({
  valid: () => ({
    sku: 'SKU-CHAOS',
    name: 'chaos sale',
    price: 1999,
    totalStock: 100,
    shards: 4,
    startsAt: iso(Date.now() - 1000),
    endsAt: iso(Date.now() + 3_600_000),
    perUserLimit: 2,
    inventoryMode: 'reserve',
    holdTtlMs: 600_000,
    challenge: 'none',
    waitingRoom: { enabled: false, admitPerSecond: 10, tokenTtlMs: 60_000 },
  }),
  nested: 'waitingRoom',
  fields: {
    sku: stringField(true, JSON.stringify('s'.repeat(65))),
    name: stringField(true, JSON.stringify('n'.repeat(201))),
    price: intField(true, '-1'),
    totalStock: intField(true, '0', '-0', '-1', '1000000001'),
    shards: intField(true, '0', '-0', '257', '-1', '101', '1000'),
    startsAt: stringField(true, '"tomorrow"', '"2024-13-01T00:00:00Z"', '"2024-02-30T00:00:00Z"', '"２０２４-01-01T00:00:00Z"', '" 2024-01-01T00:00:00Z"', '"2024-01-01T00:00:00Z\\u0000"', '"+275760-09-13T00:00:00.001Z"'),
    endsAt: stringField(true, '"2000-01-01T00:00:00Z"', '"yesterday"', '"2024-13-01T00:00:00Z"', '"1970-01-01T00:00:00Z"'),
    perUserLimit: intField(true, '0', '-0', '-1', '101'),
    inventoryMode: stringField(true, '"sometimes"', '"RESERVE"', '"reserve "', '"on_order"', '"__proto__"'),
    holdTtlMs: intField(false, '999', '0', '-1', '604800001'),
    challenge: stringField(false, '"captcha"', '"POW"', '"none "'),
    waitingRoom: {
      required: false,
      invalid: [
        '[1]',
        '"x"',
        '1',
        'true',
        '{}',
        '{"enabled":true,"admitPerSecond":0,"tokenTtlMs":1000}',
        '{"enabled":"yes","admitPerSecond":1,"tokenTtlMs":1000}',
        '{"enabled":true,"admitPerSecond":1,"tokenTtlMs":999}',
        '{"enabled":true,"admitPerSecond":1e308,"tokenTtlMs":1000}',
        '{"enabled":true,"admitPerSecond":1,"tokenTtlMs":1000,"extra":1}',
        '{"enabled":true,"admitPerSecond":1,"tokenTtlMs":1000,"toString":1}',
        '{"enabled":true,"admitPerSecond":1,"tokenTtlMs":1000,"constructor":{}}',
      ],
    },
  },
});

const webhookBody = (w: World): BodySpec => ({
  valid: () => ({ paymentId: `chaos-pay-${Math.random().toString(36).slice(2)}`, orderId: w.orders.reserved.orderId, amount: 1999, status: 'succeeded' }),
  fields: {
    paymentId: stringField(true, JSON.stringify('p'.repeat(129))),
    orderId: stringField(true, JSON.stringify('o'.repeat(129))),
    amount: intField(true, '-1'),
    status: stringField(true, '"SUCCEEDED"', '"paid"', '"refunded"', '"succeeded "'),
  },
});

const atLimit = (w: World): Headers => bearer(goodToken(w, w.users.atLimit));
const admin = (w: World): Headers => bearer(goodToken(w, 'chaos-admin', ['admin']));
const stranger = (w: World, n: number): Headers => bearer(goodToken(w, `chaos-stranger-${n % 7}`));
const validReservation = (w: World, token = w.purchaseTokens.atLimitOpen, quantity = 1): string => JSON.stringify({ quantity, purchaseToken: token });

/**
 * The endpoints of API.md (analytics aside: the lead adds them). One entry per route: `method`, `route`, `auth`,
 * `path` to a real resource, and as far as the route has them, `principal` (who may call it), `trickPath` +
 * `realParam` (for path attacks and unknown ids), `body` (a valid body and each field's invalid values), `required`
 * headers and `semantic` (well-formed requests it must still refuse). Every attack family that applies is derived.
 */
export const ENDPOINTS: readonly Endpoint[] = [
  {
    method: 'POST',
    route: '/admin/sales',
    auth: 'admin',
    path: () => '/admin/sales',
    principal: admin,
    body: saleBody,
    semantic: (w) => {
      const t = Date.now();
      return fc
        .constantFrom<Record<string, unknown>>(
          { totalStock: 4, shards: 8 },
          { perUserLimit: 101 },
          { startsAt: iso(t + 7_200_000), endsAt: iso(t + 3_600_000) },
          { endsAt: iso(t - 10_000) },
          { startsAt: iso(t), endsAt: iso(t) },
        )
        .map((override) => ({
          attack: `inconsistent sale ${Object.keys(override).join('+')}`,
          path: '/admin/sales',
          headers: { ...admin(w), ...json },
          body: JSON.stringify({ ...saleBody().valid(w), ...override }),
          expect: ['VALIDATION_FAILED'],
        }));
    },
  },
  {
    method: 'GET',
    route: '/admin/sales/:id',
    auth: 'admin',
    path: (w) => `/admin/sales/${w.sales.open}`,
    principal: admin,
    realParam: (w) => w.sales.open,
    trickPath: (_w, s) => `/admin/sales/${s}`,
  },
  {
    method: 'PUT',
    route: '/admin/degradation',
    auth: 'admin',
    path: () => '/admin/degradation',
    principal: admin,
    body: () => ({
      valid: () => ({ level: 0 }),
      fields: { level: intField(true, '4', '-1', '3.5', '255', '"3"', '"zero"') },
    }),
  },
  {
    method: 'POST',
    route: '/admin/blacklist',
    auth: 'admin',
    path: () => '/admin/blacklist',
    principal: admin,
    body: () => ({
      valid: () => ({ userId: 'chaos-never-blocked', reason: 'chaos' }),
      fields: {
        userId: stringField(false, '"a b"', JSON.stringify('u'.repeat(65)), '"ü"', '"../x"', '"a/b"', '"\\u0000"'),
        reason: stringField(true, JSON.stringify('r'.repeat(501))),
      },
    }),
    semantic: (w) =>
      fc
        .constantFrom<Record<string, unknown>>(
          { userId: 'chaos-x', ip: '10.9.8.7', reason: 'both' },
          { reason: 'neither' },
          { ip: '999.1.1.1', reason: 'bad ip' },
          { ip: '1.2.3', reason: 'bad ip' },
          { ip: 'localhost', reason: 'bad ip' },
          { ip: '::gg', reason: 'bad ip' },
          { ip: '', reason: 'bad ip' },
          { ip: '10.0.0.1/8', reason: 'cidr' },
        )
        .map((body) => ({ attack: 'blacklist target', path: '/admin/blacklist', headers: { ...admin(w), ...json }, body: JSON.stringify(body), expect: ['VALIDATION_FAILED'] })),
  },
  {
    method: 'DELETE',
    route: '/admin/blacklist/:entry',
    auth: 'admin',
    // The one real entry: aimed at only by requests refused before the handler (auth, role, route).
    path: (w) => `/admin/blacklist/${encodeURIComponent(w.blockedEntry)}`,
    principal: admin,
    realParam: (w) => w.blockedEntry,
    trickPath: (_w, s) => `/admin/blacklist/${s}`,
    missingCode: blacklistCode,
    semantic: (w) =>
      fc
        .oneof(
          fc.stringMatching(/^[A-Za-z0-9_.:-]{1,40}$/).map((id) => `user:${id}`),
          fc.ipV4().map((ip) => `ip:${ip}`),
          fc.ipV6().map((ip) => `ip:${ip}`),
          fc.constantFrom('user:', 'ip:', 'ip:1.2.3', 'USER:x', 'user', 'ip:::gg', 'userId:x', ':x', 'user:chaos-blocked '),
          nastyString,
        )
        .filter((entry) => wellFormed(entry) !== w.blockedEntry && wellFormed(entry).length > 0)
        .map((entry) => {
          const decoded = wellFormed(entry);
          return {
            attack: 'blacklist entry that is not there',
            path: `/admin/blacklist/${encodeSegment(entry)}`,
            headers: admin(w),
            expect: encodeSegment(entry).length > 100 ? ['VALIDATION_FAILED'] : [blacklistCode(decoded)],
          };
        }),
  },
  {
    method: 'GET',
    route: '/analytics/sales/:id/summary',
    auth: 'staff',
    path: (w) => `/analytics/sales/${w.sales.open}/summary`,
    principal: admin,
    realParam: (w) => w.sales.open,
    trickPath: (_w, s) => `/analytics/sales/${s}/summary`,
  },
  {
    method: 'GET',
    route: '/analytics/sales/:id/timeline',
    auth: 'staff',
    path: (w) => `/analytics/sales/${w.sales.open}/timeline?bucket=10s`,
    principal: admin,
    realParam: (w) => w.sales.open,
    trickPath: (_w, s) => `/analytics/sales/${s}/timeline`,
    semantic: (w) =>
      fc
        .constantFrom('bucket=2s', 'bucket=', 'bucket=1S', 'bucket=1s&bucket=1m', 'bucket=%00', 'bucket=10s%00', 'bucket=__proto__', 'bucket=constructor')
        .map((query) => ({ attack: `timeline query ${query}`, path: `/analytics/sales/${w.sales.open}/timeline?${query}`, headers: admin(w), expect: ['VALIDATION_FAILED'] })),
  },
  {
    method: 'POST',
    route: '/analytics/query',
    auth: 'staff',
    path: () => '/analytics/query',
    principal: admin,
    body: () => ({
      valid: () => ({ collection: 'orders', pipeline: [{ $match: { status: 'paid' } }, { $count: 'n' }] }),
      fields: {
        collection: stringField(true, '"events"', '"orders_v1"', '"projections"', '"projection_checkpoints"', '"system.users"', '"__proto__"'),
        pipeline: {
          required: true,
          invalid: [
            'null',
            '{}',
            '"$match"',
            '[1]',
            '[[]]',
            '[{}]',
            '[{"$match":{},"$limit":1}]',
            '[{"$out":"stolen"}]',
            '[{"$merge":{"into":"stolen"}}]',
            '[{"$match":{"$where":"sleep(1000)"}}]',
            '[{"$group":{"_id":null,"f":{"$accumulator":{"init":"function(){}"}}}}]',
            '[{"$addFields":{"f":{"$function":{"body":"return 1","args":[],"lang":"js"}}}}]',
            '[{"$facet":{"a":[{"$out":"x"}]}}]',
            '[{"$lookup":{"from":"orders","as":"x"}}]',
            '[{"$unionWith":"orders"}]',
            '[{"$nonsense":1}]',
            // Stages with arguments no engine can run (issue #27: they answered 500), the engine-time ones included.
            ...BAD_PIPELINES.map((bad) => JSON.stringify(bad.pipeline)),
          ],
        },
      },
    }),
  },
  {
    method: 'GET',
    route: '/sales/:id',
    auth: 'public',
    path: (w) => `/sales/${w.sales.open}`,
    realParam: (w) => w.sales.open,
    trickPath: (_w, s) => `/sales/${s}`,
  },
  {
    method: 'GET',
    route: '/sales/:id/access',
    auth: 'buyer',
    path: (w) => `/sales/${w.sales.open}/access`,
    principal: (w) => stranger(w, 0),
    realParam: (w) => w.sales.open,
    trickPath: (_w, s) => `/sales/${s}/access`,
    semantic: (w) =>
      fc.oneof(
        fc.nat().map((n) => ({ attack: 'access before the start', path: `/sales/${w.sales.future}/access`, headers: stranger(w, n), expect: ['SALE_NOT_STARTED'] as Code[] })),
        fc.nat().map((n) => ({ attack: 'access after the end', path: `/sales/${w.sales.ended}/access`, headers: stranger(w, n), expect: ['SALE_ENDED'] as Code[] })),
        fc
          .constantFrom(w.sales.open, w.sales.future, w.sales.pow)
          .map((sale) => ({ attack: 'access while blacklisted', path: `/sales/${sale}/access`, headers: bearer(goodToken(w, w.users.blocked)), expect: ['BLOCKED'] as Code[] })),
      ),
  },
  {
    method: 'POST',
    route: '/sales/:id/reservations',
    auth: 'buyer',
    path: (w) => `/sales/${w.sales.open}/reservations`,
    principal: atLimit,
    realParam: (w) => w.sales.open,
    trickPath: (_w, s) => `/sales/${s}/reservations`,
    body: reservationBody,
    required: () => freshKey.map((key) => ({ 'idempotency-key': key })),
    semantic: (w) => {
      const keyed = (attack: string, headers: Headers, path: string, body: string, expect: Code[]) =>
        freshKey.map((key) => ({ attack, path, headers: { ...headers, ...json, 'idempotency-key': key }, body, expect }));
      const open = `/sales/${w.sales.open}/reservations`;
      return fc.oneof(
        fc.nat().chain((n) => keyed('before the start', stranger(w, n), `/sales/${w.sales.future}/reservations`, validReservation(w), ['SALE_NOT_STARTED'])),
        fc.nat().chain((n) => keyed('after the end', stranger(w, n), `/sales/${w.sales.ended}/reservations`, validReservation(w), ['SALE_ENDED'])),
        fc.nat().chain((n) => keyed("another user's purchase token", stranger(w, n), open, validReservation(w, w.purchaseTokens.cancellerOpen), ['INVALID_PURCHASE_TOKEN'])),
        keyed("another sale's purchase token", atLimit(w), open, validReservation(w, w.purchaseTokens.atLimitShortHold), ['INVALID_PURCHASE_TOKEN']),
        keyed("the pow sale's token on the open sale", bearer(goodToken(w, w.users.powBuyer)), open, validReservation(w, w.purchaseTokens.powBuyerPow), ['INVALID_PURCHASE_TOKEN']),
        fc
          .oneof(
            nastyString,
            fc.constantFrom('0.x', '1.', '.', 'zzzzzzzz.AAAA', `${w.purchaseTokens.cancellerOpen}x`, w.purchaseTokens.cancellerOpen.toUpperCase()),
            fc.nat().map((n) => {
              const t = w.purchaseTokens.cancellerOpen;
              const at = n % (t.length - 1);
              return t.slice(0, at) + (t[at] === 'A' ? 'B' : 'A') + t.slice(at + 1);
            }),
          )
          .filter((t) => t.length >= 1 && t.length <= 512 && t !== w.purchaseTokens.cancellerOpen)
          .chain((token) => keyed('forged purchase token', bearer(goodToken(w, w.users.canceller)), open, JSON.stringify({ quantity: 1, purchaseToken: token }), ['INVALID_PURCHASE_TOKEN'])),
        fc.integer({ min: 1, max: 2 }).chain((q) => keyed('over the per-user limit', atLimit(w), open, validReservation(w, w.purchaseTokens.atLimitOpen, q), ['LIMIT_EXCEEDED'])),
        fc.integer({ min: 3, max: 1_000_000_000 }).chain((q) => keyed('quantity above perUserLimit', atLimit(w), open, validReservation(w, w.purchaseTokens.atLimitOpen, q), ['VALIDATION_FAILED'])),
        fc.integer({ min: 2, max: 1_000_000_000 }).map((q) => ({
          attack: 'known Idempotency-Key, other quantity',
          path: open,
          headers: { ...atLimit(w), ...json, 'idempotency-key': w.knownKey },
          body: JSON.stringify({ quantity: q, purchaseToken: 'not-even-a-token' }),
          expect: ['IDEMPOTENCY_KEY_REUSED'] as Code[],
        })),
        // The key belongs to the open sale: on another sale, with a valid token and stock there, it is still 422.
        fc.constant(null).map(() => ({
          attack: 'known Idempotency-Key on another sale',
          path: `/sales/${w.sales.shortHold}/reservations`,
          headers: { ...atLimit(w), ...json, 'idempotency-key': w.knownKey },
          body: JSON.stringify({ quantity: 1, purchaseToken: w.purchaseTokens.atLimitShortHold }),
          expect: ['IDEMPOTENCY_KEY_REUSED'] as Code[],
        })),
        fc.nat().map((n) => ({
          attack: "someone else's Idempotency-Key",
          path: open,
          headers: { ...stranger(w, n), ...json, 'idempotency-key': w.knownKey },
          body: JSON.stringify({ quantity: 1, purchaseToken: w.purchaseTokens.atLimitOpen }),
          expect: ['INVALID_PURCHASE_TOKEN'] as Code[],
        })),
        fc
          .option(fc.oneof(nastyString.filter((s) => s.length >= 1 && s.length <= 4096), fc.constantFrom('garbage', 'e30', btoaJson({ number: 1 }))), { nil: undefined })
          .chain((answer) =>
            keyed(
              'wrong or missing challenge answer',
              bearer(goodToken(w, w.users.powBuyer)),
              `/sales/${w.sales.pow}/reservations`,
              JSON.stringify({ quantity: 1, purchaseToken: w.purchaseTokens.powBuyerPow, ...(answer === undefined ? {} : { challengeAnswer: answer }) }),
              ['CHALLENGE_FAILED'],
            ),
          ),
        fc.constantFrom(w.sales.open, w.sales.pow, w.sales.future).chain((sale) =>
          keyed('while blacklisted', bearer(goodToken(w, w.users.blocked)), `/sales/${sale}/reservations`, validReservation(w), ['BLOCKED']),
        ),
        fc.uuid().chain((sale) => keyed('unknown sale', atLimit(w), `/sales/${sale}/reservations`, validReservation(w), ['NOT_FOUND'])),
      );
    },
  },
  {
    method: 'GET',
    route: '/orders/:id',
    auth: 'buyer',
    path: (w) => `/orders/${w.orders.reserved.orderId}`,
    principal: (w) => stranger(w, 1),
    realParam: (w) => w.orders.reserved.orderId,
    trickPath: (_w, s) => `/orders/${s}`,
    semantic: (w) =>
      fc
        .tuple(fc.constantFrom(...Object.values(w.orders)), fc.constantFrom(w.users.atLimit, w.users.canceller, w.users.expiredBuyer, 'chaos-stranger-9'))
        .filter(([order, user]) => order.userId !== user)
        .map(([order, user]) => ({ attack: "another user's order", path: `/orders/${order.orderId}`, headers: bearer(goodToken(w, user)), expect: ['NOT_FOUND'] as Code[] })),
  },
  {
    method: 'POST',
    route: '/orders/:id/cancel',
    auth: 'buyer',
    path: (w) => `/orders/${w.orders.reserved.orderId}/cancel`,
    principal: (w) => stranger(w, 2),
    realParam: (w) => w.orders.reserved.orderId,
    trickPath: (_w, s) => `/orders/${s}/cancel`,
    semantic: (w) =>
      fc.oneof(
        fc
          .tuple(fc.constantFrom(...Object.values(w.orders)), fc.constantFrom(w.users.atLimit, w.users.canceller, w.users.expiredBuyer, 'chaos-stranger-9'))
          .filter(([order, user]) => order.userId !== user)
          .map(([order, user]) => ({ attack: "cancel another user's order", path: `/orders/${order.orderId}/cancel`, headers: bearer(goodToken(w, user)), expect: ['NOT_FOUND'] as Code[] })),
        fc.constantFrom(...Object.values(w.orders)).map((order) => ({
          attack: 'cancel as an admin who does not own it',
          path: `/orders/${order.orderId}/cancel`,
          headers: admin(w),
          expect: ['NOT_FOUND'] as Code[],
        })),
        fc.constantFrom(w.orders.paid, w.orders.expired).map((order) => ({
          attack: 'cancel a paid or expired order',
          path: `/orders/${order.orderId}/cancel`,
          headers: bearer(goodToken(w, order.userId)),
          expect: ['ORDER_NOT_CANCELLABLE'] as Code[],
        })),
      ),
  },
  {
    method: 'POST',
    route: '/payments/webhook',
    auth: 'webhook',
    path: () => '/payments/webhook',
    body: webhookBody,
    semantic: (w) => {
      const signed = (attack: string, payment: Record<string, unknown>, expect: (Code | 'OK')[]) => {
        const body = JSON.stringify(payment);
        return { attack, path: '/payments/webhook', headers: { ...json, 'x-signature': signWebhook(w, body) }, body, expect };
      };
      return fc.oneof(
        fc
          .tuple(fc.oneof(fc.uuid(), fc.stringMatching(/^[A-Za-z0-9-]{1,128}$/)), fc.constantFrom('succeeded', 'failed'))
          .filter(([orderId]) => !Object.values(w.orders).some((o) => o.orderId === orderId))
          .map(([orderId, status]) => signed('signed payment for an order that does not exist', { paymentId: `chaos-pay-${orderId}`, orderId, amount: 1999, status }, ['NOT_FOUND'])),
        // A paymentId pays one order: used again for any other order (a live hold included) it is refused and writes nothing.
        fc
          .tuple(fc.constantFrom(w.orders.reserved, w.orders.cancelled, w.orders.expired), fc.constantFrom('succeeded', 'failed'), fc.constantFrom(1999, 1, 0))
          .map(([order, status, amount]) =>
            signed('paymentId reused for another order', { paymentId: w.paidPaymentId, orderId: order.orderId, amount, status }, ['PAYMENT_ID_REUSED']),
          ),
        // The same payment again for its own order: the first answer, no second effect.
        fc.constant(null).map(() => signed('the paid order\'s payment redelivered', { paymentId: w.paidPaymentId, orderId: w.orders.paid.orderId, amount: 1999, status: 'succeeded' }, ['OK'])),
      );
    },
  },
  {
    method: 'POST',
    route: '/auth/dev-token',
    auth: 'absent',
    path: () => '/auth/dev-token',
    body: () => ({ valid: () => ({ userId: 'chaos-admin', roles: ['admin'] }), fields: { userId: stringField(true), roles: { required: false, invalid: ['"admin"', '[1]'] } } }),
  },
  {
    method: 'GET',
    route: '/',
    auth: 'public',
    path: () => '/',
  },
  {
    method: 'GET',
    route: '/sale-page/:file',
    auth: 'public',
    path: () => '/sale-page/sale.js',
    realParam: () => 'sale.js',
    trickPath: (_w, s) => `/sale-page/${s}`,
    // Only the page's own files exist: the page itself is at /, and no name reaches the file system.
    semantic: () =>
      fc
        .constantFrom('index.html', 'INDEX.HTML', 'sale.ts', 'pow-worker.spec.ts', 'sale.js.map', '.env', '..%2F..%2Fpackage.json', '..%2Fapi%2Fsrc%2Fmain.js', '%2Fetc%2Fpasswd', 'activate.js%00.html', 'sale.css%2F')
        .map((file) => ({ attack: `not a page file: ${file}`, path: `/sale-page/${file}`, headers: {}, expect: ['NOT_FOUND'] as Code[] })),
  },
  {
    method: 'POST',
    route: '/demo/payments/:orderId',
    auth: 'absent',
    path: (w) => `/demo/payments/${w.orders.reserved.orderId}`,
  },
  {
    method: 'GET',
    route: '/demo/sale',
    auth: 'absent',
    path: () => '/demo/sale',
  },
  {
    method: 'GET',
    route: '/health/*',
    auth: 'public',
    path: () => '/health/ready',
  },
];

/** Routes that exist besides the table (a wrong-method attack must not land on them). */
const OTHER_ROUTES: ReadonlyArray<readonly [Method, RegExp]> = [
  ['GET', /^\/admin\/blacklist$/],
  ['GET', /^\/admin\/degradation$/],
  ['GET', /^\/metrics$/],
  ['GET', /^\/health\/(live|ready)$/],
  ['GET', /^\/admin\/projections$/],
  ['POST', /^\/admin\/projections\/[^/]+\/[^/]+$/],
];

const routeExists = (method: Method, pathAndQuery: string): boolean => {
  const path = pathAndQuery.split('?')[0] ?? '';
  return (
    ENDPOINTS.some((e) => e.method === method && new RegExp(`^${e.route.replace(/:[a-z]+/g, '[^/]+').replace('*', '(live|ready)')}$`).test(path)) ||
    OTHER_ROUTES.some(([m, re]) => m === method && re.test(path))
  );
};

// ---------------------------------------------------------------------------------------------------------------
// Attacks from the table
// ---------------------------------------------------------------------------------------------------------------

/** Any body at all, for requests that must be refused before the body is looked at. */
const anyBody = (w: World, spec: BodySpec | undefined): fc.Arbitrary<{ body?: string | Buffer; headers: Headers; oversize?: boolean }> =>
  fc.oneof(
    fc.constant({ headers: {} }),
    fc.constant(null).map(() => ({ body: objectText(pairsOf(spec?.valid(w) ?? { anything: true })), headers: { ...json } })),
    spec === undefined ? fc.constant({ body: '{"__proto__":{"admin":true}}', headers: { ...json } }) : invalidBodies(spec, w),
  );

/** Everything hostile one endpoint can get, weighted so each family shows up. */
export const attacksOn = (w: World, e: Endpoint): fc.Arbitrary<Hostile> => {
  const spec = e.body?.(w);
  // GET routes are sent no body; the others get anything, from nothing to over the limit.
  const anyOrNoBody = e.method === 'GET' ? fc.constant<{ body?: string | Buffer; headers: Headers; oversize?: boolean }>({ headers: {} }) : anyBody(w, spec);
  const families: Array<{ arbitrary: fc.Arbitrary<Omit<Hostile, 'endpoint'>>; weight: number }> = [];
  const base = { method: e.method };
  const required = e.required?.() ?? fc.constant<Headers>({});
  const okPrincipal = (): Headers => e.principal?.(w) ?? {};

  if (e.auth === 'absent') {
    // Not registered without DEMO=1: every request is a 404, whatever it carries (a body over the limit may be refused first).
    families.push({
      arbitrary: fc.tuple(fc.oneof(badAuth(w), fc.constant(null).map(() => ({ attack: 'admin token', headers: admin(w) }))), anyOrNoBody).map(([auth, body]) => ({
        ...base,
        attack: `${auth.attack}; absent route`,
        path: e.path(w),
        headers: { ...auth.headers, ...body.headers },
        ...(body.body === undefined ? {} : { body: body.body }),
        expect: body.oversize ? ['NOT_FOUND', 'PAYLOAD_TOO_LARGE'] : ['NOT_FOUND'],
      })),
      weight: 10,
    });
  }

  if (e.auth === 'buyer' || e.auth === 'admin' || e.auth === 'staff') {
    families.push({
      arbitrary: fc.tuple(badAuth(w), required, anyOrNoBody).map(([auth, req, body]) => ({
        ...base,
        attack: auth.attack,
        path: e.path(w),
        headers: { ...req, ...auth.headers, ...body.headers },
        ...(body.body === undefined ? {} : { body: body.body }),
        // The body limit is enforced while reading, before any guard runs.
        expect: body.oversize ? ['UNAUTHENTICATED', 'PAYLOAD_TOO_LARGE'] : ['UNAUTHENTICATED'],
      })),
      weight: 6,
    });
  }

  if (e.auth === 'admin' || e.auth === 'staff') {
    families.push({
      arbitrary: fc.tuple(withoutRole(w, e.auth), anyOrNoBody).map(([who, body]) => ({
        ...base,
        attack: `${who.attack} on an admin route`,
        path: e.path(w),
        headers: { ...who.headers, ...body.headers },
        ...(body.body === undefined ? {} : { body: body.body }),
        expect: [...(['FORBIDDEN'] as Code[]), ...(who.questionable ? (['UNAUTHENTICATED'] as Code[]) : []), ...(body.oversize ? (['PAYLOAD_TOO_LARGE'] as Code[]) : [])],
      })),
      weight: 4,
    });
  }

  if (e.auth === 'webhook') {
    const valid = (): string => objectText(pairsOf(spec!.valid(w)));
    const signatures = fc.oneof(
      fc.constant({ attack: 'no X-Signature', headers: {} }),
      headerJunk.map((junk) => ({ attack: 'junk X-Signature', headers: { 'x-signature': junk } })),
      fc.stringMatching(/^[0-9a-f]{64}$/).map((hex) => ({ attack: 'random hex X-Signature', headers: { 'x-signature': hex } })),
      fc.stringMatching(/^[0-9a-f]{1,63}$|^[0-9a-f]{65,130}$/).map((hex) => ({ attack: 'hex X-Signature of the wrong length', headers: { 'x-signature': hex } })),
      fc.constant(null).map(() => ({ attack: 'X-Signature with a sha256= prefix', headers: { 'x-signature': `sha256=${signWebhook(w, valid())}` } })),
      fc.string({ minLength: 1, maxLength: 30 }).map((secret) => ({ attack: 'X-Signature with another secret', headers: { 'x-signature': createHmac('sha256', `${secret}x${w.webhookSecret}`).update(valid()).digest('hex') } })),
      fc.constant(null).map(() => ({ attack: 'X-Signature as base64', headers: { 'x-signature': createHmac('sha256', w.webhookSecret).update(valid()).digest('base64') } })),
      fc.constant(null).map(() => ({ attack: 'X-Signature of SHA-512', headers: { 'x-signature': createHmac('sha512', w.webhookSecret).update(valid()).digest('hex') } })),
      fc.constant({ attack: 'two X-Signature headers', headers: { 'x-signature': ['ab'.repeat(32), 'cd'.repeat(32)] } }),
    );
    // A correctly signed body for a real reserved order would pay it: a forged signature that got through moves the store.
    families.push({
      arbitrary: fc.tuple(signatures, fc.boolean()).map(([sig, tamper]) => {
        const body = valid();
        const signed = tamper ? { 'x-signature': signWebhook(w, body) } : sig.headers;
        const sent = tamper ? body.replace('1999', '1') : body;
        return { ...base, attack: tamper ? 'signed, then the body changed' : sig.attack, path: e.path(w), headers: { ...json, ...signed }, body: sent, expect: ['UNAUTHENTICATED'] as Code[] };
      }),
      weight: 6,
    });
  }

  if (spec !== undefined && e.auth !== 'absent') {
    families.push({
      arbitrary: fc.tuple(invalidBodies(spec, w), required).map(([bad, req]) => {
        const headers: Headers = { ...okPrincipal(), ...req, ...bad.headers };
        if (e.auth === 'webhook') headers['x-signature'] = signWebhook(w, bad.body);
        const refusal: Code = e.auth === 'webhook' && bad.notJson ? 'UNAUTHENTICATED' : 'VALIDATION_FAILED';
        return { ...base, attack: bad.attack, path: e.path(w), headers, body: bad.body, expect: [bad.oversize ? 'PAYLOAD_TOO_LARGE' : refusal] };
      }),
      weight: 10,
    });
  }

  if (e.route === '/sales/:id/reservations') {
    families.push({
      arbitrary: fc.tuple(badIdempotencyKey, fc.boolean()).map(([key, validBody]) => ({
        ...base,
        attack: key.attack,
        path: e.path(w),
        headers: { ...okPrincipal(), ...json, ...key.headers },
        body: validBody ? validReservation(w) : '{not json',
        expect: ['VALIDATION_FAILED'] as Code[],
      })),
      weight: 4,
    });
  }

  if (e.trickPath !== undefined) {
    const real = e.realParam!(w);
    families.push({
      arbitrary: fc
        .tuple(pathTricks(real), required)
        .filter(([t]) => safeDecode(t.segment) !== real)
        .map(([t, req]) => {
          const path = e.trickPath!(w, t.segment);
          const decoded = safeDecode(t.segment);
          const bodyHeaders: Headers = spec === undefined ? {} : { ...json };
          const body = spec === undefined ? undefined : objectText(pairsOf(spec.valid(w)));
          // Fastify refuses a bad escape or a parameter over 100 characters before routing; anything else names nothing.
          const expect: Code[] = decoded === undefined || t.segment.length > 100 ? ['VALIDATION_FAILED'] : ['NOT_FOUND', ...(e.missingCode ? [e.missingCode(decoded)] : [])];
          return {
            ...base,
            attack: t.attack,
            path,
            headers: { ...okPrincipal(), ...req, ...bodyHeaders },
            ...(body === undefined ? {} : { body }),
            expect: [...new Set(expect)],
          };
        }),
      weight: 5,
    });
    // An authorized caller, a parameter that names nothing, questionable tokens included.
    if (e.auth !== 'public') {
      families.push({
        arbitrary: fc.tuple(fc.uuid(), questionableBuyer(w, 'chaos-stranger-q'), fc.boolean()).map(([id, q, useQ]) => ({
          ...base,
          attack: useQ ? `${q.attack}, unknown id` : 'unknown id',
          path: e.trickPath!(w, id),
          headers: { ...(useQ && e.auth === 'buyer' ? q.headers : okPrincipal()), ...(e.route === '/sales/:id/reservations' ? { 'idempotency-key': 'chaos-unknown-id-key', ...json } : {}) },
          ...(e.route === '/sales/:id/reservations' ? { body: validReservation(w) } : {}),
          expect: [e.missingCode?.(id) ?? 'NOT_FOUND', ...(useQ && e.auth === 'buyer' ? (['UNAUTHENTICATED'] as Code[]) : [])],
        })),
        weight: 2,
      });
    }
  }

  if (e.route === '/health/*') {
    const subpath = fc.oneof(
      fc.constantFrom('', 'x', 'LIVE', 'Ready', 'live/x', 'ready%2F', '..', '..%2Fmetrics', 'readyz', 'livez', 'status'),
      fc.stringMatching(/^[a-z0-9._~-]{1,60}$/).filter((s) => s !== 'live' && s !== 'ready'),
    );
    families.push({
      arbitrary: subpath.map((s) => ({ ...base, attack: 'unknown health check', path: `/health/${s}`, headers: {}, expect: ['NOT_FOUND'] as Code[] })),
      weight: 4,
    });
    families.push({
      arbitrary: fc.tuple(fc.constantFrom('/health/live', '/health/ready'), queryJunk, junkHeaders, fc.option(badAuth(w), { nil: undefined })).map(([path, query, headers, auth]) => ({
        ...base,
        attack: 'junk around a health check',
        path: `${path}${query}`,
        headers: { ...headers, ...(auth?.headers ?? {}) },
        expect: ['OK'],
      })),
      weight: 4,
    });
    families.push({
      arbitrary: fc.constantFrom('%', '%ZZ', '%E0%A4%A').map((s) => ({ ...base, attack: 'bad percent-encoding', path: `/health/${s}`, headers: {}, expect: ['VALIDATION_FAILED'] as Code[] })),
      weight: 1,
    });
  }

  if (e.semantic !== undefined) {
    families.push({
      arbitrary: e.semantic(w).map((s) => ({ ...base, ...s, method: s.method ?? e.method })),
      weight: 12,
    });
  }

  // A method the path has no route for: 404 before anything else.
  families.push({
    arbitrary: fc
      .constantFrom<Method>('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS')
      .filter((m) => !routeExists(m, e.path(w)))
      .map((method) => ({ method, attack: `${method} on ${e.route}`, path: e.path(w), headers: { ...okPrincipal() }, expect: ['NOT_FOUND'] as Code[] })),
    weight: 2,
  });

  const sometimes = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: arb, weight: 1 });
  return fc
    .tuple(fc.oneof(...families), sometimes(queryJunk), sometimes(junkHeaders), sometimes(fc.constantFrom('bearer ', 'BEARER ', 'bEaReR ')))
    .map(([h, query, extra, scheme]) => {
      // Junk query strings and headers ride along without changing what an invalid request gets, and so does the
      // Bearer scheme in another case (RFC 7235: case-insensitive)...
      const path = query === undefined || h.path.includes('?') ? h.path : `${h.path}${query}`;
      const withScheme = scheme === undefined || typeof h.headers.authorization !== 'string' || !h.headers.authorization.startsWith('Bearer ')
        ? h.headers
        : { ...h.headers, authorization: `${scheme}${h.headers.authorization.slice('Bearer '.length)}` };
      const headers = extra === undefined ? withScheme : { ...extra, ...withScheme };
      // ...unless the request line and headers outgrow Node's 16 KB: then PAYLOAD_TOO_LARGE may come first.
      const head = path.length + Object.entries(headers).reduce((n, [k, v]) => n + k.length + 4 + Buffer.byteLength(Array.isArray(v) ? v.join('') : v, 'latin1'), 0);
      const expect = head > HEAD_LIMIT - 2_000 ? [...new Set([...h.expect, 'PAYLOAD_TOO_LARGE' as const])] : h.expect;
      return { ...h, endpoint: `${e.method} ${e.route}`, path, headers, expect };
    });
};

const safeDecode = (segment: string): string | undefined => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
};

/** One hostile request, the endpoint drawn uniformly from the table. */
export const hostileRequest = (w: World): fc.Arbitrary<Hostile> => fc.oneof(...ENDPOINTS.map((e) => attacksOn(w, e)));

// ---------------------------------------------------------------------------------------------------------------
// Below the routes: what a client does on the wire (slow, malformed, oversized), for the HTTP edge
// ---------------------------------------------------------------------------------------------------------------

/** The request line and headers of one request, as sent: header values that are lists become repeated lines. */
const headText = (method: Method, path: string, headers: Headers): string =>
  `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${Object.entries(headers)
    .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${name}: ${v}\r\n`))
    .join('')}`;

/**
 * A request sent slowly, as an attacker holding connections open would: `head` at once, then `drip` one byte every
 * `everyMs`. However it is timed, the whole request never arrives within REQUEST_TIMEOUT_MS + 1 s (the spec checks
 * it), so the server must cut it: 408 REQUEST_TIMEOUT in the envelope, and the connection closed.
 */
export interface SlowRequest {
  readonly endpoint: string;
  /** Where the request stalls: in its request line, in its headers, or in its body. */
  readonly stall: 'request line' | 'headers' | 'body';
  readonly head: string;
  readonly drip: string;
  readonly everyMs: number;
}

/** Every endpoint of the table, stalled in its request line or headers, and those with a body stalled in the body. */
export const slowRequest = (w: World): fc.Arbitrary<SlowRequest> =>
  fc.oneof(
    ...ENDPOINTS.map((e) => {
      const spec = e.body?.(w);
      const stalls: Array<SlowRequest['stall']> = spec === undefined ? ['request line', 'headers'] : ['request line', 'headers', 'body'];
      return fc
        .tuple(fc.constantFrom(...stalls), e.required?.() ?? fc.constant<Headers>({}), fc.integer({ min: 40, max: 120 }), fc.integer({ min: 100, max: 400 }))
        .map(([stall, required, padding, everyMs]): SlowRequest => {
          // Leading spaces keep the JSON valid and the body long enough to outlast the deadline.
          const body = spec === undefined ? '' : `${' '.repeat(padding)}${objectText(pairsOf(spec.valid(w)))}`;
          const headers: Headers = {
            ...(e.principal?.(w) ?? {}),
            ...required,
            ...(spec === undefined ? {} : { ...json, 'content-length': String(Buffer.byteLength(body)) }),
          };
          const head = headText(e.method, e.path(w), headers);
          const endpoint = `${e.method} ${e.route}`;
          if (stall === 'body') return { endpoint, stall, head: `${head}\r\n`, drip: body, everyMs };
          const padded = `${head}x-chaos-slow: ${'s'.repeat(padding)}\r\n\r\n${body}`;
          if (stall === 'request line') return { endpoint, stall, head: '', drip: padded, everyMs };
          const cut = head.indexOf('\r\n') + 2 + Math.floor((head.length - head.indexOf('\r\n') - 2) / 2);
          return { endpoint, stall, head: padded.slice(0, cut), drip: padded.slice(cut), everyMs };
        });
    }),
  );

/**
 * Bytes Node's parser or Fastify's router refuse before any route runs: malformed request lines and header sections,
 * a request line and headers over 16 KB, URLs that do not percent-decode, path parameters of 8 KB. Each carries a
 * `canary` where the input goes, and the answer must not: an error says what was wrong in words of its own.
 */
export interface WireAttack {
  readonly attack: string;
  readonly bytes: string;
  readonly expect: Code;
  readonly canary: string;
}

/** Request lines llhttp refuses (HPE_INVALID_METHOD, _URL, _VERSION, _CONSTANT), `C` where the input goes. */
const BAD_REQUEST_LINES: ReadonlyArray<readonly [string, (c: string) => string]> = [
  ['invalid method', (c) => `G@T /${c} HTTP/1.1`],
  ['lower-case method', (c) => `get /${c} HTTP/1.1`],
  ['the method is the canary', (c) => `${c.toUpperCase()}! / HTTP/1.1`],
  ['no method', (c) => `/${c} HTTP/1.1`],
  ['tab after the method', (c) => `GET\t/${c} HTTP/1.1`],
  ['space in the request target', (c) => `GET /a b/${c} HTTP/1.1`],
  ['NUL in the request target', (c) => `GET /${c}\u0000 HTTP/1.1`],
  ['control character in the request target', (c) => `GET /${c}\u0001 HTTP/1.1`],
  ['DEL in the request target', (c) => `GET /${c}\u007f HTTP/1.1`],
  ['Latin-1 byte in the request target', (c) => `GET /${c}\u00ff HTTP/1.1`],
  ['request target without a slash', (c) => `GET ${c} HTTP/1.1`],
  ['unknown HTTP version', (c) => `GET /${c} HTTP/9.9`],
  ['HTTP/1.10', (c) => `GET /${c} HTTP/1.10`],
  ['version without a minor', (c) => `GET /${c} HTTP/1`],
  ['lower-case protocol', (c) => `GET /${c} http/1.1`],
  ['trailing junk after the version', (c) => `GET /${c} HTTP/1.1 junk`],
  ['HTTP/2 preface', () => 'PRI * HTTP/2.0'],
];

/** Header sections llhttp refuses, after a valid request line. */
const BAD_HEADER_SECTIONS: ReadonlyArray<readonly [string, (c: string) => string]> = [
  ['space in a header name', (c) => `X-${c} Name: 1\r\n`],
  ['a header line without a colon', (c) => `X-${c}\r\n`],
  ['empty header name', (c) => `: ${c}\r\n`],
  ['obsolete line folding', (c) => `X-Fold: a\r\n ${c}\r\n`],
  ['NUL in a header value', (c) => `X-Value: a\u0000${c}\r\n`],
  ['bare CR in a header value', (c) => `X-Value: ${c}\rX-Other: 1\r\n`],
  ['Content-Length that is not a number', (c) => `Content-Length: ${c}\r\n`],
  ['negative Content-Length', () => 'Content-Length: -1\r\n'],
  ['two Content-Length values', () => 'Content-Length: 1\r\nContent-Length: 2\r\n'],
  ['Content-Length and Transfer-Encoding together', () => 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n'],
];

/** Segments no router can decode (URIError in decodeURIComponent). */
const BAD_ESCAPES = ['%ff', '%FF', '%', '%zz', '%E0%A4%A', '%c0%af', '%ed%a0%80', '%2'];

export const wireAttack = (w: World): fc.Arbitrary<WireAttack> => {
  const canary = fc.stringMatching(/^[0-9a-f]{12}$/).map((hex) => `echo${hex}`);
  const closing = 'connection: close\r\n\r\n';
  const withParam = ENDPOINTS.filter((e) => e.trickPath !== undefined);
  return fc.oneof(
    fc.tuple(fc.constantFrom(...BAD_REQUEST_LINES), canary).map(([[attack, line], c]) => ({ attack, bytes: `${line(c)}\r\nhost: a\r\n${closing}`, expect: 'VALIDATION_FAILED' as const, canary: c })),
    fc.tuple(fc.constantFrom(...ENDPOINTS), fc.constantFrom(...BAD_HEADER_SECTIONS), canary).map(([e, [attack, section], c]) => ({
      attack: `${attack} on ${e.method} ${e.route}`,
      bytes: `${headText(e.method, e.path(w), {})}${section(c)}${closing}`,
      expect: 'VALIDATION_FAILED' as const,
      canary: c,
    })),
    fc
      .tuple(fc.constantFrom(...ENDPOINTS), fc.constantFrom('one header', 'many headers', 'the URL'), fc.integer({ min: HEAD_LIMIT + 1, max: 3 * HEAD_LIMIT }), canary)
      .map(([e, where, size, c]) => {
        const filler = c.padEnd(size, 'h');
        const path = where === 'the URL' ? `${e.path(w)}?q=${filler}` : e.path(w);
        const headers: Headers =
          where === 'one header' ? { 'x-chaos-big': filler } : where === 'many headers' ? Object.fromEntries(Array.from({ length: Math.ceil(size / 40) }, (_, i) => [`x-chaos-${i}`, c.padEnd(30, 'h')])) : {};
        return { attack: `${where} over 16 KB on ${e.method} ${e.route}`, bytes: `${headText(e.method, path, headers)}${closing}`, expect: 'PAYLOAD_TOO_LARGE' as const, canary: c };
      }),
    fc.tuple(fc.constantFrom(...withParam), fc.constantFrom(...BAD_ESCAPES), canary).map(([e, escape, c]) => ({
      attack: `bad percent-encoding ${escape} on ${e.method} ${e.route}`,
      bytes: `${headText(e.method, e.trickPath!(w, `${c}${escape}`), e.principal?.(w) ?? {})}${closing}`,
      expect: 'VALIDATION_FAILED' as const,
      canary: c,
    })),
    fc.tuple(fc.constantFrom(...withParam), fc.integer({ min: 101, max: 8192 }), canary).map(([e, length, c]) => ({
      attack: `a ${length}-character path parameter on ${e.method} ${e.route}`,
      bytes: `${headText(e.method, e.trickPath!(w, c.padEnd(length, 'u')), e.principal?.(w) ?? {})}${closing}`,
      expect: 'VALIDATION_FAILED' as const,
      canary: c,
    })),
  );
};
