// The ReleaseRouting=edge functions (release-edge.js) against a KeyValueStore stand-in that behaves
// as CloudFront documents cf.kvs(): get(key, {format}) is async, resolves to a string (default),
// parsed JSON ('json') or bytes ('bytes'), and rejects for a key the store does not have.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { functionSource, loadFunction } = require('./load');

function store(entries, { unreadable = false, logging = true } = {}) {
    const reads = [];
    const logged = [];
    const cf = {
        kvs() {
            return {
                async get(key, options) {
                    reads.push(key);
                    if (unreadable) throw new Error('KeyValueStore could not be read');
                    if (!Object.prototype.hasOwnProperty.call(entries, key)) throw new Error(`Key ${key} not found`);
                    const value = entries[key];
                    const format = (options && options.format) || 'string';
                    if (format === 'string') return value;
                    if (format === 'json') return JSON.parse(value);
                    if (format === 'bytes') return Buffer.from(value, 'utf8');
                    throw new Error(`unknown format ${format}`);
                },
                async exists(key) {
                    return Object.prototype.hasOwnProperty.call(entries, key);
                },
            };
        },
    };
    // cf.logCustomData(string): the request's viewer-request-log-data (the last call counts).
    if (logging === 'throws') cf.logCustomData = () => { throw new Error('log data unavailable'); };
    else if (logging) cf.logCustomData = (data) => logged.push(data);
    return { cf, reads, logged };
}

const SDK = JSON.stringify({ stable: '1.4.0', canary: '1.5.0', weight: 5 });

function edge(entries = { sdk: SDK }, { cohorts = 100, unreadable = false, logging = true } = {}) {
    const { cf, reads, logged } = store(entries, { unreadable, logging });
    const names = ['releasePath', 'parseEntry'];
    const request = loadFunction('release-edge-request', { cohorts, cf, names });
    const response = loadFunction('release-edge-response', { cohorts, cf });
    return { request: request.handler, response: response.handler, releasePath: request.releasePath, reads, logged };
}

function event(uri, { cookie, headers = {}, ip = '203.0.113.7' } = {}) {
    const h = {};
    for (const [k, v] of Object.entries(headers)) h[k] = { value: v };
    const cookies = cookie === undefined ? {} : { me_cohort: { value: cookie } };
    return { version: '1.0', context: { eventType: 'viewer-request' }, viewer: { ip },
             request: { method: 'GET', uri, querystring: {}, headers: h, cookies } };
}

function responseEvent(requestEvent, status = 200) {
    return { ...requestEvent, context: { eventType: 'viewer-response' },
             response: { statusCode: status, headers: {
                 'cache-control': { value: 'public, max-age=31536000, immutable' },
                 etag: { value: '"abc"' } }, cookies: {} } };
}

const vectors = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'testdata', 'cohort-vectors.json'), 'utf8')).vectors;

// Browsers' real JA4 fingerprints (Chrome 131, Firefox 133, Safari 18 on TLS 1.3).
const BROWSERS = {
    chrome: 't13d1516h2_8daaf6152771_02713d6af862',
    firefox: 't13d1717h2_5b57614c22b0_3cbfd9057e0d',
    safari: 't13d2014h2_a09f3c656075_14788d8d241b',
};

test('rewrites to the chosen version\'s immutable path, by the router\'s rule, in 1% steps', async () => {
    const f = edge();
    let canary = 0;
    for (let cohort = 0; cohort < 100; cohort++) {
        const out = await f.request(event('/sdk/v1/sdk.js', { cookie: `100-${cohort}` }));
        const expected = cohort < 5 ? '1.5.0' : '1.4.0';
        assert.equal(out.uri, `/releases/sdk/${expected}/v1/sdk.js`, `cohort ${cohort}`);
        if (expected === '1.5.0') canary++;
    }
    assert.equal(canary, 5);
    for (const weight of [0, 1, 2, 37, 99, 100]) {
        const g = edge({ sdk: JSON.stringify({ stable: '1.4.0', canary: '1.5.0', weight }) });
        let n = 0;
        for (let cohort = 0; cohort < 100; cohort++) {
            if ((await g.request(event('/sdk/a.js', { cookie: `100-${cohort}` }))).uri.includes('/1.5.0/')) n++;
        }
        assert.equal(n, weight, `weight ${weight}`);
    }
});

test('a weight N cohorts cannot express rounds up, never to 0 (N = 20 at 1%)', async () => {
    const f = edge({ sdk: JSON.stringify({ stable: '1', canary: '2', weight: 1 }) }, { cohorts: 20 });
    assert.equal((await f.request(event('/sdk/a.js', { cookie: '20-0' }))).uri, '/releases/sdk/2/a.js');
    assert.equal((await f.request(event('/sdk/a.js', { cookie: '20-1' }))).uri, '/releases/sdk/1/a.js');
});

test('derives the shared vectors\' cohorts (as the Rust router does)', async () => {
    for (const v of vectors) {
        const f = edge({ sdk: JSON.stringify({ stable: 's', canary: 'c', weight: 50 }) }, { cohorts: v.count });
        const headers = {};
        if (v.ja4) headers['cloudfront-viewer-ja4-fingerprint'] = v.ja4;
        if (v.ja3) headers['cloudfront-viewer-ja3-fingerprint'] = v.ja3;
        const e = event('/sdk/x.js', { headers, ip: v.ip });
        const expected = v.cohort * 100 < 50 * v.count ? 'c' : 's';
        assert.equal((await f.request(e)).uri, `/releases/sdk/${expected}/x.js`, JSON.stringify(v));
        const response = await f.response(responseEvent(e));
        assert.equal(response.headers['x-media-edge-cohort'].value, String(v.cohort), JSON.stringify(v));
    }
});

test('directories are their index.html, and a file keeps its encoding for S3', async () => {
    const f = edge({ sdk: SDK, app: JSON.stringify({ stable: '7.0.0' }) });
    const cases = {
        '/app': '/releases/app/7.0.0/index.html',
        '/app/': '/releases/app/7.0.0/index.html',
        '/app/docs/': '/releases/app/7.0.0/docs/index.html',
        '/app/a%20b.css': '/releases/app/7.0.0/a%20b.css',
        '/app/assets/app.3f9a1c.js': '/releases/app/7.0.0/assets/app.3f9a1c.js',
        // S3 reads `+` in a path as a space: a file named `C++ guide.html` must reach S3 as %2B.
        '/app/C++%20guide.html': '/releases/app/7.0.0/C%2B%2B%20guide.html',
        '/app/C%2B%2B%20guide.html': '/releases/app/7.0.0/C%2B%2B%20guide.html',
        '/app/logo+alpha/': '/releases/app/7.0.0/logo%2Balpha/index.html',
    };
    for (const [uri, rewritten] of Object.entries(cases)) {
        assert.equal((await f.request(event(uri, { cookie: '100-50' }))).uri, rewritten, uri);
    }
});

test('paths that try to climb out of the release prefix are refused before the store is read', async () => {
    const f = edge();
    const hostile = [
        '/sdk/../channels/sdk.json', '/sdk/./x.js', '/sdk/%2e%2e/x.js', '/sdk/%2E%2E/channels/sdk.json',
        '/sdk/..%2f..%2fversions/sdk/1.5.0.json', '/sdk%2f..%2fchannels', '/sdk/a\\..\\x.js', '/sdk/a%5c..%5cx.js',
        '/sdk/a%00.js', '/sdk/a%0a.js', '/sdk/a%7f.js', '/sdk/%252e%252e/x.js', '/sdk//x.js', '/sdk/%c0%ae%c0%ae/x.js',
        '/sdk/%E0%A4%A', 'sdk/x.js', '/sdk/' + 'a'.repeat(1100), '/../sdk/x.js', '/./sdk/x.js', '/sdk/..',
    ];
    for (const uri of hostile) {
        const out = await f.request(event(uri, { cookie: '100-0' }));
        assert.ok(out.statusCode === 400 || out.statusCode === 404, `${uri} → ${JSON.stringify(out).slice(0, 120)}`);
        assert.equal(out.uri, undefined, `${uri} must not be rewritten`);
        assert.equal(out.headers['cache-control'].value, 'no-store');
    }
    assert.deepEqual(f.reads, [], 'no store read for a refused path');
    // Whatever is accepted stays under its channel's version prefix, without dot segments.
    for (const uri of ['/sdk/...', '/sdk/..../x', '/sdk/.hidden', '/sdk/a..b.js', '/sdk/%20', '/sdk/x.js?y']) {
        const out = await f.request(event(uri, { cookie: '100-0' }));
        assert.ok(out.uri.startsWith('/releases/sdk/1.5.0/'), uri);
        assert.ok(!out.uri.split('/').some((s) => s === '.' || s === '..'), uri);
    }
});

test('a missing or unreadable channel entry is a 503 never cached, never a wrong version', async () => {
    const unavailable = [
        [edge({}), 'no key'],
        [edge({ sdk: SDK }, { unreadable: true }), 'store error'],
        [edge({ sdk: 'not json' }), 'not JSON'],
        [edge({ sdk: 'null' }), 'null'],
        [edge({ sdk: '[]' }), 'array'],
        [edge({ sdk: '"1.4.0"' }), 'a bare string'],
        [edge({ sdk: JSON.stringify({ canary: '1.5.0', weight: 5 }) }), 'no stable'],
        [edge({ sdk: JSON.stringify({ stable: '../channels' }) }), 'stable climbing out'],
        [edge({ sdk: JSON.stringify({ stable: 'a/b' }) }), 'stable with a slash'],
        [edge({ sdk: JSON.stringify({ stable: '..' }) }), 'stable ..'],
        [edge({ sdk: JSON.stringify({ stable: '' }) }), 'empty stable'],
        [edge({ sdk: JSON.stringify({ stable: '9'.repeat(65) }) }), 'stable too long'],
        [edge({ sdk: JSON.stringify({ stable: 15 }) }), 'stable a number'],
    ];
    for (const [f, what] of unavailable) {
        const out = await f.request(event('/sdk/sdk.js', { cookie: '100-0' }));
        assert.equal(out.statusCode, 503, what);
        assert.equal(out.headers['cache-control'].value, 'no-store', what);
        assert.equal(out.headers['retry-after'].value, '5', what);
    }
    // The entry of another channel is not used for this one.
    const other = edge({ app: SDK });
    assert.equal((await other.request(event('/sdk/sdk.js', { cookie: '100-0' }))).statusCode, 503);
});

test('a malformed canary part serves stable to everyone', async () => {
    const broken = [
        { stable: '1.4.0', canary: '../../channels', weight: 50 },
        { stable: '1.4.0', canary: '1.5.0', weight: 101 },
        { stable: '1.4.0', canary: '1.5.0', weight: -1 },
        { stable: '1.4.0', canary: '1.5.0', weight: '50' },
        { stable: '1.4.0', canary: '1.5.0', weight: 2.5 },
        { stable: '1.4.0', canary: '1.5.0' },
        { stable: '1.4.0', canary: '', weight: 50 },
        { stable: '1.4.0', canary: { v: 1 }, weight: 50 },
    ];
    for (const entry of broken) {
        const f = edge({ sdk: JSON.stringify(entry) });
        for (const cohort of ['100-0', '100-1', '100-49', '100-99']) {
            const out = await f.request(event('/sdk/sdk.js', { cookie: cohort }));
            assert.equal(out.uri, '/releases/sdk/1.4.0/sdk.js', JSON.stringify(entry));
        }
    }
});

test('cookie first, then JA4 and network; a forged or broken cookie is not trusted', async () => {
    const f = edge({ sdk: JSON.stringify({ stable: 's', canary: 'c', weight: 50 }) });
    const chrome = { 'cloudfront-viewer-ja4-fingerprint': BROWSERS.chrome };
    const derived = (await f.response(responseEvent(event('/sdk/a.js', { headers: chrome })))).headers['x-media-edge-cohort'].value;
    // Bare values and other cohort counts are an older deployment's cookies: not trusted.
    for (const bad of ['-1', '100', 'abc', '1e1', '007x', '99999999999', '', ' 1', '7', '20-7', '100-100', '100-7x']) {
        const out = await f.response(responseEvent(event('/sdk/a.js', { cookie: bad, headers: chrome })));
        assert.equal(out.headers['x-media-edge-cohort'].value, derived, `cookie ${JSON.stringify(bad)}`);
    }
    const kept = await f.response(responseEvent(event('/sdk/a.js', { cookie: '100-007', headers: chrome })));
    assert.equal(kept.headers['x-media-edge-cohort'].value, '7');
    // A client's own cohort header is ignored: only the cookie can carry a cohort.
    const forged = { ...chrome, 'x-media-edge-cohort': '0' };
    const out = await f.response(responseEvent(event('/sdk/a.js', { headers: forged })));
    assert.equal(out.headers['x-media-edge-cohort'].value, derived);
    // The same browser build on other networks lands in other cohorts.
    const cohorts = new Set();
    for (let i = 0; i < 50; i++) {
        const e = event('/sdk/a.js', { headers: chrome, ip: `198.51.${i}.20` });
        cohorts.add((await f.response(responseEvent(e))).headers['x-media-edge-cohort'].value);
    }
    assert.ok(cohorts.size > 30, `${cohorts.size} cohorts for 50 networks`);
});

test('the response carries the version served, its kind, the cookie on first visit, and a short browser lifetime', async () => {
    const f = edge();
    for (const [name, ja4] of Object.entries(BROWSERS)) {
        const e = event('/sdk/v1/sdk.js', { headers: { 'cloudfront-viewer-ja4-fingerprint': ja4 } });
        const rewritten = (await f.request(structuredClone(e))).uri;
        const out = await f.response(responseEvent(e));
        const version = rewritten.split('/')[3];
        assert.equal(out.headers['x-media-edge-version'].value, version, name);
        assert.equal(out.headers['x-media-edge-channel-kind'].value, version === '1.5.0' ? 'canary' : 'stable', name);
        assert.equal(out.headers['cache-control'].value, 'public, max-age=60', name);
        assert.equal(out.headers.etag.value, '"abc"', 'the origin ETag stays for revalidation');
        const cookie = out.cookies.me_cohort;
        assert.equal(cookie.value, `100-${out.headers['x-media-edge-cohort'].value}`, name);
        assert.equal(cookie.attributes, 'Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=None; Partitioned');
    }
    // A returning viewer with the same cookie gets no new Set-Cookie.
    const back = await f.response(responseEvent(event('/sdk/v1/sdk.js', { cookie: '100-3' })));
    assert.equal(back.cookies.me_cohort, undefined);
    assert.equal(back.headers['x-media-edge-channel-kind'].value, 'canary');
    // Were CloudFront to hand the rewritten request to the response side, the served version wins.
    const rewrittenEvent = event('/releases/sdk/1.4.0/v1/sdk.js', { cookie: '100-3' });
    const served = await f.response(responseEvent(rewrittenEvent));
    assert.equal(served.headers['x-media-edge-version'].value, '1.4.0');
    assert.equal(served.headers['x-media-edge-channel-kind'].value, 'stable');
});

test('a rollback applies to the next request, for every cohort', async () => {
    const entries = { sdk: JSON.stringify({ stable: '1.4.0', canary: '1.5.0', weight: 100 }) };
    const f = edge(entries);
    assert.equal((await f.request(event('/sdk/a.js', { cookie: '100-42' }))).uri, '/releases/sdk/1.5.0/a.js');
    entries.sdk = JSON.stringify({ stable: '1.4.0', weight: 0 });
    for (let cohort = 0; cohort < 100; cohort++) {
        assert.equal((await f.request(event('/sdk/a.js', { cookie: `100-${cohort}` }))).uri, '/releases/sdk/1.4.0/a.js');
    }
});

test('one store read per request, and the deployed code within CloudFront Functions\' quotas', async () => {
    const f = edge();
    await f.request(event('/sdk/a.js'));
    assert.equal(f.reads.length, 1);
    for (const name of ['release-edge-request', 'release-edge-response', 'cohort-request', 'cohort-response', 'format-negotiation']) {
        // Maximum function size: 10 KB (CloudFront Developer Guide, "Quotas on CloudFront Functions").
        const bytes = Buffer.byteLength(functionSource(name), 'utf8');
        assert.ok(bytes <= 10 * 1024, `${name} is ${bytes} bytes`);
    }
    // No Promise combinators or chains: AWS warns they can exceed the function memory quota.
    const source = functionSource('release-edge-request');
    assert.doesNotMatch(source, /Promise\.(all|any|race|allSettled)|\.then\(/);
});

test('a browser\'s whole cookie jar: only me_cohort counts, and other cookies are left alone', async () => {
    const f = edge();
    // As CloudFront parses a real Cookie header into request.cookies.
    const e = event('/sdk/v1/sdk.js');
    e.request.cookies = {
        _ga: { value: 'GA1.1.1234567890.1733100000' },
        me_cohort: { value: '100-2' },
        session: { value: 's%3AabcDEF.xyz' },
        consent: { value: '{"ads":false}' },
    };
    e.request.headers['cookie'] = { value: '_ga=GA1.1.1234567890.1733100000; me_cohort=100-2; session=s%3AabcDEF.xyz' };
    assert.equal((await f.request(structuredClone(e))).uri, '/releases/sdk/1.5.0/v1/sdk.js');
    const out = await f.response(responseEvent(e));
    assert.equal(out.headers['x-media-edge-cohort'].value, '2');
    assert.deepEqual(Object.keys(out.cookies), [], 'no Set-Cookie: the viewer already has its cohort');
});

test('versions with + are encoded in the rewritten path, and read back on the response side', async () => {
    const f = edge({ sdk: JSON.stringify({ stable: '1.4.0+build.7', canary: '2.0.0-rc.1', weight: 0 }) });
    const out = await f.request(event('/sdk/sdk.js', { cookie: '100-0' }));
    assert.equal(out.uri, '/releases/sdk/1.4.0%2Bbuild.7/sdk.js');
    const plus = await f.request(event('/sdk/sdk+extra.js', { cookie: '100-0' }));
    assert.equal(plus.uri, '/releases/sdk/1.4.0%2Bbuild.7/sdk%2Bextra.js', 'the file name\'s + too');
    const served = await f.response(responseEvent(event(out.uri, { cookie: '100-0' })));
    assert.equal(served.headers['x-media-edge-version'].value, '1.4.0+build.7');
});

test('each routed request logs its channel, kind, version and cohort for the access logs', async () => {
    const e = edge();
    const canary = await e.request(event('/sdk/v1/sdk.js', { cookie: '100-3' }));
    const stable = await e.request(event('/sdk/v1/sdk.js', { cookie: '100-42' }));
    assert.equal(canary.uri, '/releases/sdk/1.5.0/v1/sdk.js');
    assert.equal(stable.uri, '/releases/sdk/1.4.0/v1/sdk.js');
    assert.deepEqual(e.logged, [
        'release=sdk;kind=canary;version=1.5.0;cohort=3',
        'release=sdk;kind=stable;version=1.4.0;cohort=42',
    ]);
    // Refused paths and unroutable channels log nothing (their status says enough).
    await e.request(event('/sdk/../etc/passwd'));
    await edge({}).request(event('/sdk/sdk.js'));
    assert.equal(e.logged.length, 2);
    // The record stays well under the field's 800 bytes at the longest names allowed.
    const long = 'v'.repeat(64);
    const big = edge({ [long.slice(0, 20)]: JSON.stringify({ stable: long, canary: null, weight: 0 }) });
    await big.request(event(`/${long.slice(0, 20)}/x.js`));
    assert.ok(big.logged.every((l) => encodeURIComponent(l).length < 800), big.logged);
});

test('serving never depends on the log helper: missing or failing, the request is routed', async () => {
    for (const logging of [false, 'throws']) {
        const e = edge(undefined, { logging });
        const out = await e.request(event('/sdk/v1/sdk.js', { cookie: '100-3' }));
        assert.equal(out.uri, '/releases/sdk/1.5.0/v1/sdk.js', String(logging));
    }
});
