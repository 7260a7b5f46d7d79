// Node's test runner over the CloudFront Functions, loaded as CloudFront loads them: a script
// whose `handler` is called with the event. `node --test crates/edge-router/cloudfront/`
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { loadFunction } = require('./load');

const DEPLOYED = { 'viewer-request.js': 'cohort-request', 'viewer-response.js': 'cohort-response' };

function load(file, cohorts) {
    return loadFunction(DEPLOYED[file], { cohorts }).handler;
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
    for (const file of ['cohort.js']) {
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
    assert.equal(handler(viewerRequest({ cookies: { me_cohort: '10-7' } })).headers['x-media-edge-cohort'].value, '7');
    // '7' and '20-7': cookies of an older deployment (another cohort count) are not trusted.
    for (const bad of ['-1', '10-10', 'abc', '1e1', '007x', '99999999999', '', '7', '20-7', '10-7x', ' 10-7']) {
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

function viewerResponse({ requestHeader, responseHeader, cookie } = {}) {
    return {
        version: '1.0', context: { eventType: 'viewer-response' }, viewer: { ip: '203.0.113.7' },
        request: {
            method: 'GET', uri: '/sdk/v1/sdk.js', querystring: {},
            headers: requestHeader === undefined ? {} : { 'x-media-edge-cohort': { value: requestHeader } },
            cookies: cookie === undefined ? {} : { me_cohort: { value: cookie } },
        },
        response: {
            statusCode: 200, statusDescription: 'OK', cookies: {},
            headers: responseHeader === undefined ? {} : { 'x-media-edge-cohort': { value: responseHeader } },
        },
    };
}

test('viewer response persists the served cohort in a cross-site cookie', () => {
    const handler = load('viewer-response.js', 10);
    const set = handler(viewerResponse({ responseHeader: '3' })).cookies.me_cohort;
    assert.equal(set.value, '10-3', 'the cohort count travels with the cohort');
    for (const attribute of ['Secure', 'SameSite=None', 'Partitioned', 'HttpOnly', 'Path=/', 'Max-Age=31536000']) {
        assert.ok(set.attributes.includes(attribute), attribute);
    }
});

test('the cohort the response carries wins over the request header', () => {
    // On a cache hit the response is the cached copy for the cohort in the cache key; the request
    // CloudFront hands a viewer-response function is the viewer's own (AWS: "the actual request
    // that CloudFront received from the viewer"), so its header may be one the viewer sent.
    const handler = load('viewer-response.js', 10);
    assert.equal(handler(viewerResponse({ requestHeader: '3', responseHeader: '5' })).cookies.me_cohort.value, '10-5');
    assert.equal(handler(viewerResponse({ requestHeader: '5', responseHeader: '5' })).cookies.me_cohort.value, '10-5');
});

test('the request header counts only when the response has no cohort', () => {
    const handler = load('viewer-response.js', 10);
    assert.equal(handler(viewerResponse({ requestHeader: '4' })).cookies.me_cohort.value, '10-4');
});

test('no cohort anywhere: no cookie', () => {
    const handler = load('viewer-response.js', 10);
    const out = handler(viewerResponse({}));
    assert.equal(out.cookies.me_cohort, undefined);
    assert.equal(out.statusCode, 200);
});

test('invalid cohorts are never stored', () => {
    const handler = load('viewer-response.js', 10);
    for (const bad of ['-1', '10', 'abc', '1e1', '007x', '99999999999', '', ' 3']) {
        assert.equal(handler(viewerResponse({ responseHeader: bad })).cookies.me_cohort, undefined, `response ${JSON.stringify(bad)}`);
        assert.equal(handler(viewerResponse({ requestHeader: bad })).cookies.me_cohort, undefined, `request ${JSON.stringify(bad)}`);
        // An invalid served cohort is not replaced by the request's: the response has one.
        assert.equal(handler(viewerResponse({ requestHeader: '2', responseHeader: bad })).cookies.me_cohort, undefined,
            `response ${JSON.stringify(bad)} with request 2`);
    }
});

test('a cookie that already names the served cohort is not set again; a stale one is replaced', () => {
    const handler = load('viewer-response.js', 10);
    assert.equal(handler(viewerResponse({ responseHeader: '3', cookie: '10-3' })).cookies.me_cohort, undefined);
    assert.equal(handler(viewerResponse({ requestHeader: '3', cookie: '10-3' })).cookies.me_cohort, undefined);
    assert.equal(handler(viewerResponse({ responseHeader: '6', cookie: '10-3' })).cookies.me_cohort.value, '10-6');
    // An older deployment's bare cookie is replaced by one for this cohort count.
    assert.equal(handler(viewerResponse({ responseHeader: '3', cookie: '3' })).cookies.me_cohort.value, '10-3');
});
