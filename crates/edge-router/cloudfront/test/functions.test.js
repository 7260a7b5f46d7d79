// Node's test runner over the CloudFront Functions, loaded as CloudFront loads them: a script
// whose `handler` is called with the event. `node --test crates/edge-router/cloudfront/`
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

function load(file, cohorts) {
    let source = fs.readFileSync(path.join(__dirname, '..', file), 'utf8');
    if (cohorts !== undefined) {
        source = source.replace(/var COHORTS = \d+;/, `var COHORTS = ${cohorts};`);
    }
    return new Function('require', `${source}\nreturn handler;`)(require);
}

function viewerRequest({ headers = {}, cookies = {}, ip = '203.0.113.7' } = {}) {
    const h = {};
    for (const [k, v] of Object.entries(headers)) h[k] = { value: v };
    const c = {};
    for (const [k, v] of Object.entries(cookies)) c[k] = { value: v };
    return { version: '1.0', context: { eventType: 'viewer-request' }, viewer: { ip },
             request: { method: 'GET', uri: '/sdk/v1/sdk.js', querystring: {}, headers: h, cookies: c } };
}

const vectors = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'testdata', 'cohort-vectors.json'), 'utf8')).vectors;

test('the shipped functions agree on the cohort count with the router default (20)', () => {
    for (const file of ['viewer-request.js', 'viewer-response.js']) {
        const source = fs.readFileSync(path.join(__dirname, '..', file), 'utf8');
        assert.match(source, /var COHORTS = 20;/, file);
    }
    const config = fs.readFileSync(path.join(__dirname, '..', '..', 'src', 'config.rs'), 'utf8');
    assert.match(config, /DEFAULT_COHORTS: u16 = 20;/);
});

test('derives the same cohorts as the shared vectors (and the Rust router)', () => {
    for (const v of vectors) {
        const handler = load('viewer-request.js', v.count);
        const headers = {};
        if (v.ja4) headers['cloudfront-viewer-ja4-fingerprint'] = v.ja4;
        if (v.ja3) headers['cloudfront-viewer-ja3-fingerprint'] = v.ja3;
        const out = handler(viewerRequest({ headers, ip: v.ip }));
        assert.equal(out.headers['x-media-edge-cohort'].value, String(v.cohort), JSON.stringify(v));
    }
});

test('a valid cookie wins; a bad one is ignored', () => {
    const handler = load('viewer-request.js', 10);
    const derived = handler(viewerRequest()).headers['x-media-edge-cohort'].value;
    assert.equal(handler(viewerRequest({ cookies: { me_cohort: '7' } })).headers['x-media-edge-cohort'].value, '7');
    for (const bad of ['-1', '10', 'abc', '1e1', '007x', '99999999999', '']) {
        const out = handler(viewerRequest({ cookies: { me_cohort: bad } }));
        assert.equal(out.headers['x-media-edge-cohort'].value, derived, `cookie ${JSON.stringify(bad)}`);
    }
});

test('a client cannot choose its cohort with the header', () => {
    const handler = load('viewer-request.js', 10);
    const derived = handler(viewerRequest()).headers['x-media-edge-cohort'].value;
    const out = handler(viewerRequest({ headers: { 'x-media-edge-cohort': '0' } }));
    assert.equal(out.headers['x-media-edge-cohort'].value, derived);
});

test('missing viewer signals still give a valid cohort', () => {
    const handler = load('viewer-request.js', 10);
    const event = viewerRequest({ ip: '' });
    delete event.viewer;
    const value = Number(handler(event).headers['x-media-edge-cohort'].value);
    assert.ok(Number.isInteger(value) && value >= 0 && value < 10);
});

test('viewers spread evenly over cohorts', () => {
    const handler = load('viewer-request.js', 10);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 5000; i++) {
        const ip = `10.${(i >> 8) & 255}.${i & 255}.1`;
        counts[Number(handler(viewerRequest({ ip, headers: { 'cloudfront-viewer-ja4-fingerprint': 't13d1516h2_8daaf6152771_02713d6af862' } })).headers['x-media-edge-cohort'].value)]++;
    }
    for (const c of counts) assert.ok(c > 400 && c < 600, counts.join(','));
});

test('viewer response persists the cohort in a cross-site cookie, once', () => {
    const handler = load('viewer-response.js', 10);
    const event = (cookie, header = '3', originHeader) => ({
        request: { headers: header ? { 'x-media-edge-cohort': { value: header } } : {}, cookies: cookie ? { me_cohort: { value: cookie } } : {} },
        response: { statusCode: 200, headers: originHeader ? { 'x-media-edge-cohort': { value: originHeader } } : {}, cookies: {} },
    });
    const set = handler(event(null)).cookies.me_cohort;
    assert.equal(set.value, '3');
    for (const attribute of ['Secure', 'SameSite=None', 'Partitioned', 'HttpOnly', 'Path=/', 'Max-Age=31536000']) {
        assert.ok(set.attributes.includes(attribute), attribute);
    }
    assert.equal(handler(event('3')).cookies.me_cohort, undefined, 'already set: no Set-Cookie');
    assert.equal(handler(event(null, null, '5')).cookies.me_cohort.value, '5', 'falls back to the origin header');
    assert.equal(handler(event(null, 'abc', null)).cookies.me_cohort, undefined, 'never stores an invalid cohort');
});
