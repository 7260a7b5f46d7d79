#!/usr/bin/env node
// The local edge: infra/template.yaml's CloudFront distribution, as deployed for a stack on the
// emulator, in front of the emulator's buckets. Node's standard library only.
//
//   node infra/emulator/edge/server.js --config target/edge.json [--port 0] [--host 127.0.0.1]
//        [--kvs channels.json] [--quiet]
//
// The config is what `python -m infra.emulator.edge config` writes from a stack description
// (infra/emulator/edge/__init__.py): origins (an S3 origin is a bucket on the emulator), the
// ordered cache behaviours then the default one, each with its function associations, and the
// functions' code as the template inlines it. Per request, as CloudFront does:
//
// 1. the behaviour: the first whose PathPattern matches the path the viewer sent (case-sensitive,
//    `*` any run of characters `/` included, `?` one character), the default behaviour last; the
//    method must be one the behaviour allows (403 otherwise);
// 2. its viewer-request function, with the documented event (version, context, viewer.ip,
//    request: method, uri as sent, querystring, headers by lower-case name without Cookie, cookies)
//    and `cf.kvs()` / `cf.logCustomData()`: a returned response goes to the viewer as it is (no
//    origin, no viewer-response function); a returned request goes on with its uri;
// 3. the origin: S3 resolves the uri's path to a key (`+` is a space, then percent-decoding, so a
//    literal `+` must come as %2B); the template's bucket policy decides whether the distribution
//    may read it (403 AccessDenied otherwise; a missing key is 404 only with ListBucket granted);
//    it is fetched from the emulator's bucket, SigV4-signed when the origin has origin access
//    control; Content-Type, Cache-Control, ETag, Last-Modified and the rest come back as S3 sent
//    them;
// 4. its viewer-response function, when the origin answered below 400 (CloudFront runs none on an
//    origin's error), with event.request the request the viewer sent; its status, headers and
//    cookies (Set-Cookie) are what the viewer gets;
// 5. the behaviour's response headers policy's custom headers (Override false: only when absent).
//
// A function that throws or returns something that is neither a request nor a response is a 503,
// as CloudFront answers. Not emulated: caching (every request reaches the origin: a miss each
// time), HTTPS and redirect-to-https, compression, TLS fingerprints (no CloudFront-Viewer-*
// header; a viewer's own are dropped), the runtime's language subset and its quotas (a function
// gets 1 s of synchronous time here), origin request policies, custom error pages.
//
// Every response carries `x-local-edge-behavior` (the PathPattern that matched) and, when an
// origin was asked, `x-local-edge-origin` (origin id and S3 key); `cf.logCustomData` goes to
// `x-local-edge-log-data` and to the log.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const querystring = require('node:querystring');
const vm = require('node:vm');

const FUNCTION_TIMEOUT_MS = 1000;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te',
    'trailer', 'server', 'date']);
// What moto adds to its S3 answers and S3 does not send: Access-Control-Allow-Origin on every
// response (S3 sends it only for a CORS request to a bucket with a CORS configuration, and the
// distribution forwards no Origin header to these buckets), its own request id header, the
// request's payload hash and the SDK's checksum algorithm echoed back.
const EMULATOR_ONLY = new Set(['access-control-allow-origin', 'x-amzn-requestid', 'x-amz-content-sha256',
    'x-amz-sdk-checksum-algorithm']);
const FORWARDED_TO_S3 = ['range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since'];

// ------------------------------------------------------------------ behaviours

// CloudFront's PathPattern rule (cf. infra/tests/cfn.py pattern_matches).
function patternMatches(pattern, path) {
    return wildcard(pattern.startsWith('/') ? pattern : '/' + pattern).test(path);
}

// `*` any run of characters (`/` included), `?` one character, everything else literal.
function wildcard(pattern) {
    let regex = '^';
    for (const c of pattern) {
        regex += c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
    return new RegExp(regex + '$', 'u');
}

function behaviourFor(config, path) {
    for (const b of config.behaviours) {
        if (b.default || patternMatches(b.pathPattern, path)) return b;
    }
    throw new Error('the config has no default behaviour');
}

// ------------------------------------------------------------------ S3

// The key S3 resolves a request path to: `+` is a space, %XX are UTF-8 bytes. null: S3's 400.
function s3Key(uri) {
    try {
        return decodeURIComponent(uri.slice(1).replace(/\+/g, ' '));
    } catch (e) {
        return null;
    }
}

// A key in a request path, as AWS's SigV4 encodes it: every byte but A-Z a-z 0-9 - _ . ~ (and `/`).
function encodeKey(key) {
    return key.split('/').map((part) => encodeURIComponent(part)
        .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())).join('/');
}

// CloudFront's origin access control signs its S3 requests (SigV4); so does the local edge, with
// the credentials of its environment (the emulator's dummy ones by default). The emulator
// answers an unsigned request for an object of a private bucket with 403, as S3 does.
function sign(method, host, path, region, headers) {
    const accessKey = process.env.AWS_ACCESS_KEY_ID || 'testing';
    const secret = process.env.AWS_SECRET_ACCESS_KEY || 'testing';
    const token = process.env.AWS_SESSION_TOKEN;
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    const signed = { ...headers, host, 'x-amz-date': amzDate, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
    if (token) signed['x-amz-security-token'] = token;
    const names = Object.keys(signed).map((n) => n.toLowerCase()).sort();
    const lower = Object.fromEntries(Object.entries(signed).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
    const canonical = [method, path, '', names.map((n) => `${n}:${lower[n]}\n`).join(''), names.join(';'),
                       'UNSIGNED-PAYLOAD'].join('\n');
    const scope = `${day}/${region}/s3/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, crypto.createHash('sha256').update(canonical).digest('hex')].join('\n');
    let k = 'AWS4' + secret;
    for (const part of [day, region, 's3', 'aws4_request']) k = crypto.createHmac('sha256', k).update(part).digest();
    const signature = crypto.createHmac('sha256', k).update(toSign).digest('hex');
    signed.authorization = `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
    return signed;
}

function s3Request(config, method, bucket, key, headers, signed = true) {
    const url = new URL(config.endpoint);
    const path = `/${bucket}/${encodeKey(key)}`;
    return new Promise((resolve, reject) => {
        const req = http.request({
            host: url.hostname, port: url.port, method, path,
            headers: signed ? sign(method, url.host, path, config.stack.region, headers) : headers,
        }, resolve);
        req.on('error', reject);
        req.end();
    });
}

// An IAM resource pattern (`*` any run of characters, `?` one) against an object key.
function resourceMatches(pattern, key) {
    return wildcard(pattern).test(key);
}

// Whether the bucket's policy lets the distribution read `key` (the config's `access`, from the
// template's bucket policy); an origin without it (no policy known) is not restricted here.
function mayRead(access, key) {
    if (!access) return true;
    return access.get.some((p) => resourceMatches(p, key)) && !access.deny_get.some((p) => resourceMatches(p, key));
}

function accessDenied() {
    return { statusCode: 403, statusDescription: 'Forbidden', headers: { 'content-type': { value: 'application/xml' } },
             body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>' };
}

async function readAll(stream) {
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    return Buffer.concat(chunks);
}

// ------------------------------------------------------------------ KeyValueStore

// A store's entries: from `--kvs FILE` ({key: string or JSON value}, read at every get, so a test
// or a person can change a weight while the edge runs), or, as the release tooling fills it, from
// the channel configs in the releases bucket (EdgeEntry of channels/<key>.json).
function keyValueStore(config, storeName, kvsFile) {
    const store = config.stores[storeName] || { source: 'empty' };
    async function value(key) {
        if (kvsFile) {
            const entries = JSON.parse(fs.readFileSync(kvsFile, 'utf8'));
            const all = entries[storeName] && typeof entries[storeName] === 'object' && !('stable' in entries[storeName])
                ? entries[storeName] : entries;
            if (!Object.prototype.hasOwnProperty.call(all, key)) return null;
            return typeof all[key] === 'string' ? all[key] : JSON.stringify(all[key]);
        }
        if (store.source !== 'channel-configs') return null;
        const res = await s3Request(config, 'GET', store.bucket, store.prefix + key + store.suffix, {});
        const body = await readAll(res);
        if (res.statusCode === 404) return null;
        if (res.statusCode !== 200) throw new Error(`channel config ${key}: S3 answered ${res.statusCode}`);
        const channel = JSON.parse(body.toString('utf8'));
        // crates/edge-router/src/channel.rs EdgeEntry::of: what `media-edge release` writes.
        const entry = { stable: channel.stable };
        if (channel.canary) entry.canary = channel.canary;
        entry.weight = channel.canary ? channel.weight || 0 : 0;
        return JSON.stringify(entry);
    }
    return {
        async get(key, options) {
            const v = await value(key);
            if (v === null) throw new Error(`Key ${key} not found`);
            const format = (options && options.format) || 'string';
            if (format === 'string') return v;
            if (format === 'json') return JSON.parse(v);
            if (format === 'bytes') return Buffer.from(v, 'utf8');
            throw new Error(`unknown format ${format}`);
        },
        async exists(key) {
            return (await value(key)) !== null;
        },
        async meta() {
            return { creationDateTime: new Date(0).toISOString(), lastUpdatedDateTime: new Date().toISOString() };
        },
    };
}

// ------------------------------------------------------------------ functions

// A function's code in a context of its own: `require` gives the runtime's modules (crypto,
// querystring, buffer), `import cf from 'cloudfront'` is the helper object. The log data a call
// sets is collected per invocation.
function compileFunction(config, name, { kvsFile, log }) {
    const fn = config.functions[name];
    const state = { logData: null };
    const stores = fn.stores.map((s) => keyValueStore(config, s, kvsFile));
    const cf = {
        kvs(id) {
            if (!stores.length) throw new Error(`${name} has no KeyValueStore association`);
            return stores[0];
        },
        logCustomData(data) {
            state.logData = String(data);
        },
    };
    const modules = { crypto, querystring, buffer: require('node:buffer') };
    const lines = fn.code.split('\n');
    for (const line of lines.filter((l) => l.startsWith('import '))) {
        if (line.trim() !== "import cf from 'cloudfront';") throw new Error(`${name}: unexpected import: ${line}`);
    }
    const source = lines.filter((l) => !l.startsWith('import ')).join('\n');
    const context = vm.createContext({
        cf,
        require(module) {
            if (!(module in modules)) throw new Error(`module ${module} is not available in CloudFront Functions`);
            return modules[module];
        },
        console: { log: (...args) => log(`[${name}] ${args.join(' ')}`) },
    });
    vm.runInContext(source, context, { filename: `${name}.js`, timeout: FUNCTION_TIMEOUT_MS });
    if (typeof context.handler !== 'function') throw new Error(`${name} defines no handler`);
    return {
        name,
        async invoke(event) {
            state.logData = null;
            context.__event = JSON.stringify(event);
            const result = await vm.runInContext('handler(JSON.parse(__event))', context, { timeout: FUNCTION_TIMEOUT_MS });
            return { result: result === undefined ? undefined : JSON.parse(JSON.stringify(result)), logData: state.logData };
        },
    };
}

// ------------------------------------------------------------------ the event

function headerObject(rawHeaders, skip) {
    const headers = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = rawHeaders[i].toLowerCase();
        if (skip(name)) continue;
        const value = rawHeaders[i + 1];
        if (headers[name]) {
            headers[name].multiValue = headers[name].multiValue || [{ value: headers[name].value }];
            headers[name].multiValue.push({ value });
        } else {
            headers[name] = { value };
        }
    }
    return headers;
}

function multi(map, name, value, extra = {}) {
    if (map[name]) {
        map[name].multiValue = map[name].multiValue || [{ value: map[name].value, ...extra }];
        map[name].multiValue.push({ value, ...extra });
    } else {
        map[name] = { value, ...extra };
    }
}

function viewerRequestEvent(req, host) {
    const raw = req.url;
    const q = raw.indexOf('?');
    const uri = q < 0 ? raw : raw.slice(0, q);
    const qs = {};
    if (q >= 0) {
        for (const part of raw.slice(q + 1).split('&')) {
            if (!part) continue;
            const eq = part.indexOf('=');
            multi(qs, eq < 0 ? part : part.slice(0, eq), eq < 0 ? '' : part.slice(eq + 1));
        }
    }
    const cookies = {};
    for (const header of [].concat(req.headers.cookie || [])) {
        for (const pair of header.split(';')) {
            const eq = pair.indexOf('=');
            if (eq > 0) multi(cookies, pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
        }
    }
    const headers = headerObject(req.rawHeaders, (n) => n === 'cookie' || n.startsWith('cloudfront-viewer-'));
    let ip = req.socket.remoteAddress || '';
    if (ip.startsWith('::ffff:')) ip = ip.slice(7);
    return {
        version: '1.0',
        context: { distributionDomainName: host, distributionId: 'LOCALEDGE', eventType: 'viewer-request',
                   requestId: crypto.randomBytes(16).toString('base64url') },
        viewer: { ip },
        request: { method: req.method, uri, querystring: qs, headers, cookies },
    };
}

function isResponse(result) {
    return result && typeof result === 'object' && 'statusCode' in result;
}

// ------------------------------------------------------------------ answering

function writeResponse(res, { statusCode, statusDescription, headers = {}, cookies = {}, body }, policy, method) {
    const out = [];
    const have = new Set();
    for (const [name, h] of Object.entries(headers)) {
        const values = h.multiValue && h.multiValue.length ? h.multiValue.map((m) => m.value) : [h.value];
        for (const v of values) out.push([name, String(v)]);
        have.add(name.toLowerCase());
    }
    for (const [name, c] of Object.entries(cookies || {})) {
        const values = c.multiValue && c.multiValue.length ? c.multiValue : [c];
        for (const v of values) out.push(['set-cookie', `${name}=${v.value}${v.attributes ? '; ' + v.attributes : ''}`]);
    }
    for (const h of policy) {
        const lower = h.header.toLowerCase();
        if (have.has(lower) && !h.override) continue;
        for (let i = out.length - 1; i >= 0; i--) if (out[i][0].toLowerCase() === lower) out.splice(i, 1);
        out.push([h.header, h.value]);
    }
    const flat = [];
    for (const [n, v] of out) flat.push(n, v);
    res.writeHead(Number(statusCode), statusDescription || http.STATUS_CODES[statusCode] || '', flat);
    if (method === 'HEAD') return res.end();
    if (Buffer.isBuffer(body)) return res.end(body);
    if (body && typeof body === 'object') {
        return res.end(Buffer.from(body.data || '', body.encoding === 'base64' ? 'base64' : 'utf8'));
    }
    return res.end(body || '');
}

function plain(status, text, extra = {}) {
    const headers = { 'content-type': { value: 'text/plain; charset=utf-8' }, 'cache-control': { value: 'no-store' } };
    for (const [k, v] of Object.entries(extra)) headers[k] = { value: v };
    return { statusCode: status, statusDescription: http.STATUS_CODES[status], headers, body: text + '\n' };
}

// ------------------------------------------------------------------ origins

// CloudFront fails an origin group over to its next member only for these methods.
const FAILOVER_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

// An answer as an origin's: a stream to read (`upstream`, with statusCode and rawHeaders), or an
// `early` response the edge makes itself (S3's 403 for what the bucket policy denies, its 400
// for a key it cannot parse), which an origin group's failover sees like any other status.
function earlyAnswer(response, note) {
    const stream = require('node:stream').Readable.from([Buffer.from(response.body || '')]);
    stream.statusCode = response.statusCode;
    stream.statusMessage = response.statusDescription || http.STATUS_CODES[response.statusCode];
    stream.rawHeaders = Object.entries(response.headers || {}).flatMap(([k, v]) => [k, v.value]);
    stream.note = note;
    return stream;
}

async function askS3(config, origin, req, request, debug) {
    const key = s3Key(request.uri);
    if (key === null) {
        return { key: request.uri, upstream: earlyAnswer({ statusCode: 400, headers: { 'content-type': { value: 'application/xml' } },
            body: '<Error><Code>InvalidURI</Code><Message>Couldn\'t parse the specified URI.</Message></Error>' },
            `origin=${origin.id} invalid URI`) };
    }
    debug['x-local-edge-origin'] = `${origin.id} ${encodeKey(key)}`;
    // The bucket policy decides what the distribution may read: S3 answers 403 otherwise, and
    // 403 for a missing key unless the policy also grants ListBucket.
    if (!mayRead(origin.access, key)) {
        return { key, upstream: earlyAnswer(accessDenied(), `origin=${origin.id} key=${JSON.stringify(key)} denied by the bucket policy`) };
    }
    const forwarded = {};
    for (const name of FORWARDED_TO_S3) if (req.headers[name]) forwarded[name] = req.headers[name];
    const upstream = await s3Request(config, req.method, origin.bucket, key, forwarded, origin.signed !== false);
    if (upstream.statusCode === 404 && origin.access && !origin.access.list) {
        upstream.resume();
        return { key, upstream: earlyAnswer(accessDenied(), `origin=${origin.id} key=${JSON.stringify(key)} missing, no ListBucket`) };
    }
    return { key, upstream };
}

// A custom origin (a legacy web server): the path with the origin's OriginPath in front, Host
// its own name. Behind a behaviour whose origin request policy passes the viewer's request on
// (AllViewerExceptHostHeader), the viewer's headers, cookies, query string and body go too;
// otherwise, as for S3, only what makes a conditional or partial GET.
function askHttp(origin, req, request, behaviour, debug) {
    const qs = behaviour.forwardViewer ? querystring.stringify(Object.fromEntries(
        Object.entries(request.querystring || {}).map(([k, v]) => [k, v.multiValue ? v.multiValue.map((m) => m.value) : v.value]))) : '';
    const path = `${origin.path || ''}${request.uri}${qs ? '?' + qs : ''}`;
    debug['x-local-edge-origin'] = `${origin.id} ${path}`;
    const headers = {};
    if (behaviour.forwardViewer) {
        for (const [name, value] of Object.entries(req.headers)) {
            if (name !== 'host' && !HOP_BY_HOP.has(name)) headers[name] = value;
        }
    } else {
        for (const name of FORWARDED_TO_S3) if (req.headers[name]) headers[name] = req.headers[name];
    }
    headers.host = origin.port === (origin.protocol === 'https' ? 443 : 80) ? origin.host : `${origin.host}:${origin.port}`;
    const client = origin.protocol === 'https' ? require('node:https') : http;
    return new Promise((resolve, reject) => {
        const out = client.request({ host: origin.host, port: origin.port, method: req.method, path, headers },
                                   (upstream) => resolve({ key: path, upstream }));
        out.on('error', reject);
        if (behaviour.forwardViewer && !['GET', 'HEAD'].includes(req.method)) req.pipe(out);
        else out.end();
    });
}

// The origin (or origin group) a behaviour targets, asked as CloudFront would: a group's members
// in order, the next one asked when the last answered a status of its failover criteria (GET,
// HEAD and OPTIONS only); the last member's answer stands.
async function askOrigin(config, originId, req, request, behaviour, debug) {
    const target = config.origins[originId];
    if (!target) return { early: plain(502, `origin ${originId}: not in the distribution`) };
    const members = target.type === 'group' ? target.members : [originId];
    let answer;
    for (let i = 0; i < members.length; i++) {
        const origin = config.origins[members[i]];
        if (!origin || !['s3', 'http'].includes(origin.type)) {
            return { early: plain(502, `origin ${members[i]}: ${origin ? origin.why : 'not in the distribution'}`) };
        }
        try {
            answer = origin.type === 's3' ? await askS3(config, origin, req, request, debug)
                : await askHttp(origin, req, request, behaviour, debug);
        } catch (e) {
            const where = origin.type === 's3' ? `s3://${origin.bucket}` : `${origin.protocol}://${origin.host}:${origin.port}`;
            answer = { key: request.uri, upstream: earlyAnswer(plain(502, `origin ${origin.id} (${where}) unreachable: ${e.message}`),
                                                               `origin=${origin.id} unreachable`) };
        }
        answer.origin = origin;
        const last = i === members.length - 1;
        if (last || !FAILOVER_METHODS.has(req.method) || !target.failover.includes(answer.upstream.statusCode)) break;
        debug['x-local-edge-failover'] = `${origin.id} ${answer.upstream.statusCode}`;
        answer.upstream.resume();
    }
    if (answer.upstream.note) return { early: { ...await earlyResponse(answer.upstream) }, note: answer.upstream.note };
    return answer;
}

async function earlyResponse(stream) {
    return { statusCode: stream.statusCode, statusDescription: stream.statusMessage,
             headers: headerObject(stream.rawHeaders, () => false), body: await readAll(stream) };
}

// CloudFront's standard (legacy) access log: its 33 documented fields, in its order, so
// `media-edge logs` and `logs compare` read the local edge's log as they read CloudFront's.
const ACCESS_LOG_FIELDS = 'date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status '
    + 'cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header '
    + 'cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type '
    + 'cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type '
    + 'sc-content-type sc-content-len sc-range-start sc-range-end';

function accessLogger(file) {
    if (!file) return null;
    if (!fs.existsSync(file) || fs.statSync(file).size === 0) {
        fs.writeFileSync(file, `#Version: 1.0\n#Fields: ${ACCESS_LOG_FIELDS}\n`);
    }
    // CloudFront escapes spaces and other unsafe bytes in logged values; `-` when empty.
    const field = (v) => (v === undefined || v === null || v === '' ? '-'
        : encodeURI(String(v)).replace(/%25([0-9A-Fa-f]{2})/g, '%$1').replace(/\t/g, '%09'));
    let sequence = 0;
    return ({ req, statusCode, headers, bytes, bodyLength, seconds, resultType }) => {
        const now = new Date();
        const [date, time] = now.toISOString().split(/[T.]/);
        const [stem, query] = req.url.split(/\?(.*)/s);
        const header = (name) => { const h = headers[name] || headers[name.toLowerCase()]; return h && h.value; };
        const length = header('content-length') !== undefined ? header('content-length') : bodyLength;
        const id = `local${process.pid}-${++sequence}`;
        const line = [date, time, 'LOCAL1', bytes, req.socket.remoteAddress, req.method, req.headers.host, stem,
            statusCode, req.headers.referer, req.headers['user-agent'], query, req.headers.cookie, resultType, id,
            req.headers.host, 'http', req.socket.bytesRead, seconds.toFixed(3), '', '', '', resultType,
            `HTTP/${req.httpVersion}`, '', '', req.socket.remotePort, seconds.toFixed(3), resultType,
            header('content-type'), length, '', ''].map(field);
        fs.appendFileSync(file, line.join('\t') + '\n');
    };
}

function bodyLength(body) {
    if (Buffer.isBuffer(body)) return body.length;
    if (body && typeof body === 'object') return Buffer.from(body.data || '', body.encoding === 'base64' ? 'base64' : 'utf8').length;
    return Buffer.byteLength(body || '');
}

function createEdge(config, { kvsFile = null, log = (line) => process.stderr.write(line + '\n'), accessLog = null } = {}) {
    const writeAccessLog = accessLogger(accessLog);
    const compiled = {};
    for (const name of Object.keys(config.functions)) compiled[name] = compileFunction(config, name, { kvsFile, log });

    async function runFunction(name, event, debug) {
        try {
            const { result, logData } = await compiled[name].invoke(event);
            if (logData !== null) debug['x-local-edge-log-data'] = logData;
            return { result };
        } catch (e) {
            log(`${name} (${event.context.eventType}) failed: ${e && e.stack ? e.stack : e}`);
            return { error: `The CloudFront function ${name} failed (${event.context.eventType}): ${e && e.message}` };
        }
    }

    async function handle(req, res) {
        const started = process.hrtime.bigint();
        const written = req.socket.bytesWritten;
        const host = req.headers.host || 'localhost';
        const event = viewerRequestEvent(req, host);
        const viewerRequest = JSON.parse(JSON.stringify(event.request));
        const behaviour = behaviourFor(config, event.request.uri);
        const debug = { 'x-local-edge-behavior': behaviour.pathPattern };
        const policy = behaviour.responseHeaders || [];
        const done = (response, note) => {
            const r = { ...response, headers: { ...response.headers } };
            for (const [k, v] of Object.entries(debug)) r.headers[k] = { value: v };
            if (writeAccessLog) {
                res.on('finish', () => writeAccessLog({
                    req, statusCode: Number(r.statusCode), headers: r.headers, bytes: req.socket.bytesWritten - written,
                    bodyLength: bodyLength(r.body), seconds: Number(process.hrtime.bigint() - started) / 1e9,
                    resultType: Number(r.statusCode) >= 400 ? 'Error' : 'Miss',
                }));
            }
            writeResponse(res, r, policy, req.method);
            const ms = Number(process.hrtime.bigint() - started) / 1e6;
            log(`${req.method} ${req.url} ${r.statusCode} behaviour=${behaviour.pathPattern} ${note || ''} ${ms.toFixed(1)} ms`);
        };
        if (!behaviour.allowedMethods.includes(req.method)) {
            return done(plain(403, 'This distribution is not configured to allow the HTTP request method that was used for this request.'));
        }
        if (behaviour.lambdaAssociations && behaviour.lambdaAssociations.length) {
            return done(plain(502, 'Lambda@Edge associations are not run by the local edge'));
        }
        let request = event.request;
        const fnRequest = behaviour.functions['viewer-request'];
        if (fnRequest) {
            const { result, error } = await runFunction(fnRequest.function, event, debug);
            if (error) return done(plain(503, error), `fn=${fnRequest.function} error`);
            if (isResponse(result)) return done(result, `fn=${fnRequest.function} answered`);
            if (!result || typeof result.uri !== 'string' || !result.uri.startsWith('/')) {
                return done(plain(503, `The CloudFront function ${fnRequest.function} returned an invalid value`));
            }
            request = result;
        }
        const answer = await askOrigin(config, behaviour.targetOriginId, req, request, behaviour, debug);
        if (answer.early) return done(answer.early, answer.note);
        const { upstream, origin, key } = answer;
        const response = {
            statusCode: upstream.statusCode,
            statusDescription: upstream.statusMessage,
            headers: headerObject(upstream.rawHeaders, (n) => HOP_BY_HOP.has(n) || EMULATOR_ONLY.has(n)
                                  || (n === 'set-cookie' && !behaviour.forwardViewer)),
            cookies: {},
        };
        response.headers['x-cache'] = { value: 'Miss from local-edge' };
        response.headers.via = { value: '1.1 local-edge (media-edge)' };
        const fnResponse = behaviour.functions['viewer-response'];
        let final = response;
        if (fnResponse && upstream.statusCode < 400) {
            const responseEvent = { ...event, context: { ...event.context, eventType: 'viewer-response' },
                                    request: viewerRequest, response };
            const { result, error } = await runFunction(fnResponse.function, responseEvent, debug);
            if (error) {
                upstream.resume();
                return done(plain(503, error), `fn=${fnResponse.function} error`);
            }
            if (!isResponse(result)) {
                upstream.resume();
                return done(plain(503, `The CloudFront function ${fnResponse.function} returned an invalid value`));
            }
            final = { ...result, body: undefined };
        }
        const body = await readAll(upstream);
        done({ ...final, body },
             `origin=${origin.id} ${origin.type === 'http' ? 'path' : 'key'}=${JSON.stringify(key)}`);
    }

    return http.createServer((req, res) => {
        handle(req, res).catch((e) => {
            log(`internal error: ${e && e.stack ? e.stack : e}`);
            if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
            res.end('local edge error\n');
        });
    });
}

module.exports = { createEdge, patternMatches, behaviourFor, s3Key, encodeKey, mayRead };

if (require.main === module) {
    const args = process.argv.slice(2);
    const opt = (name, fallback) => {
        const i = args.indexOf(name);
        return i >= 0 ? args[i + 1] : fallback;
    };
    const configPath = opt('--config');
    if (!configPath) {
        process.stderr.write('usage: server.js --config EDGE.json [--port 0] [--host 127.0.0.1] [--kvs FILE] [--access-log FILE] [--quiet]\n');
        process.exit(2);
    }
    const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
    const quiet = args.includes('--quiet');
    const server = createEdge(config, { kvsFile: opt('--kvs', null), log: quiet ? () => {} : undefined,
                                        accessLog: opt('--access-log', null) });
    const host = opt('--host', '127.0.0.1');
    server.listen(Number(opt('--port', '0')), host, () => {
        const { port } = server.address();
        // The first line on stdout is the URL (a caller waits for it).
        process.stdout.write(`http://${host}:${port}\n`);
        process.stderr.write(`local edge for stack ${config.stack.name} at http://${host}:${port} ` +
                             `(origins: ${Object.values(config.origins).map((o) => o.id + (o.bucket ? '=s3://' + o.bucket : ' (unavailable)')).join(', ')})\n`);
    });
    for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => {
        server.close(() => process.exit(0));
        server.closeAllConnections();
    });
}
