// CloudFront Functions (cloudfront-js-2.0) for ReleaseRouting=edge: the whole release decision at
// the edge, from the CloudFront KeyValueStore that `media-edge release` writes (one key per
// channel: {"stable":"1.4.0","canary":"1.5.0","weight":5}). Deployed after cohort.js, twice:
// - viewer request (release-edge-request.js): cohort, routing rule, and a rewrite to the version's
//   own immutable path, /releases/<channel>/<version>/<file> in the releases bucket. That path is
//   the cache key: two cached copies per file (stable and canary) however many cohorts there are,
//   so weights move in 1% steps at no cost in hit ratio, and no Lambda runs on a cache miss.
// - viewer response (release-edge-response.js): the me_cohort cookie, the version and channel kind
//   for debugging, and the browser's cache lifetime. CloudFront documents event.request in this
//   event as the request it received from the viewer, so the cohort and the choice are derived
//   again here rather than carried over from the request side.
// A missing or unreadable channel entry is a 503 that is never cached (CloudFront caches no
// response a function generates); a malformed canary part serves stable.
import cf from 'cloudfront';

var kvs = cf.kvs();
var PREFIX = '/releases/';
// The URL a page uses has no version in it, so a browser may keep a file only briefly: this bounds
// how long a viewer keeps its version after the weight moves or a rollback. CloudFront keeps each
// version's copy far longer (its path is immutable).
var BROWSER_MAX_AGE = 60;
var MAX_PATH_BYTES = 1024;
var COOKIE_ATTRIBUTES = 'Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=None; Partitioned';
// What could name another object than it appears to, checked on the path as the viewer sent it.
var REFUSED = [['%2e', 'encoded dot'], ['%2f', 'encoded slash'], ['%5c', 'encoded backslash'],
    ['%00', 'encoded NUL'], ['%25', 'double encoding'], ['\\', 'backslash'], ['//', 'empty segment']];

function validVersion(value) {
    return typeof value === 'string' && /^[A-Za-z0-9._+-]{1,64}$/.test(value) && value !== '.' && value !== '..';
}

// {channel, file} with file still percent-encoded as sent (S3 decodes it), or {status, why}.
function releasePath(uri) {
    if (typeof uri !== 'string' || uri.charAt(0) !== '/') {
        return { status: 400, why: 'path must start with /' };
    }
    if (uri.length > MAX_PATH_BYTES) {
        return { status: 400, why: 'path is too long' };
    }
    var lower = uri.toLowerCase();
    for (var i = 0; i < REFUSED.length; i++) {
        if (lower.indexOf(REFUSED[i][0]) >= 0) {
            return { status: 400, why: 'path is not allowed: ' + REFUSED[i][1] };
        }
    }
    var decoded;
    try {
        decoded = decodeURIComponent(uri);
    } catch (e) {
        return { status: 400, why: 'path is not allowed: not UTF-8' };
    }
    if (/[\u0000-\u001f\u007f-\u009f]/.test(decoded)) {
        return { status: 400, why: 'path is not allowed: control character' };
    }
    var segments = uri.slice(1).split('/');
    var channel = segments.shift();
    if (!/^[A-Za-z0-9._+-]{1,64}$/.test(channel) || channel === '.' || channel === '..') {
        return { status: 404, why: 'not found' };
    }
    for (var j = 0; j < segments.length; j++) {
        if (segments[j] === '.' || segments[j] === '..') {
            return { status: 400, why: 'path is not allowed: dot segment' };
        }
    }
    var file = segments.join('/');
    if (file === '' || file.charAt(file.length - 1) === '/') {
        file += 'index.html';
    }
    return { channel: channel, file: file };
}

// The stored entry, or null when it cannot be routed by (no stable version). A canary part that is
// not valid is dropped, so stable keeps being served.
function parseEntry(value) {
    var entry;
    try {
        entry = JSON.parse(value);
    } catch (e) {
        return null;
    }
    if (entry === null || typeof entry !== 'object' || !validVersion(entry.stable)) {
        return null;
    }
    var weight = entry.weight;
    var canaryValid = validVersion(entry.canary) && typeof weight === 'number' && weight % 1 === 0 &&
        weight >= 0 && weight <= 100;
    return { stable: entry.stable, canary: canaryValid ? entry.canary : null, weight: canaryValid ? weight : 0 };
}

function decoded(text) {
    try {
        return decodeURIComponent(text);
    } catch (e) {
        return null;
    }
}

async function channelEntry(channel) {
    try {
        return parseEntry(await kvs.get(channel, { format: 'string' }));
    } catch (e) {
        return null; // no such key, or the store could not be read
    }
}

// The router's rule: canary iff cohort < weight·N/100, so raising the weight only adds cohorts
// and any weight above 0 gives at least cohort 0.
function choose(entry, cohort) {
    var canary = entry.canary !== null && cohort * 100 < entry.weight * COHORTS;
    return { version: canary ? entry.canary : entry.stable, kind: canary ? 'canary' : 'stable' };
}

// What this request was served, into the access log's viewer-request-log-data field (standard
// logging v2 and real-time logs select it), so `media-edge logs` and Athena can count requests,
// errors and cache hits per version and per cohort: the logs keep the URL the viewer asked for,
// not this rewrite. Channel and version are validated names (no `;` or `=`). Never in the way of
// serving: a runtime without the helper, or a failing one, just logs nothing.
function logRelease(channel, choice, cohort) {
    try {
        if (typeof cf.logCustomData === 'function') {
            cf.logCustomData('release=' + channel + ';kind=' + choice.kind + ';version=' + choice.version + ';cohort=' + cohort);
        }
    } catch (e) {
        // nothing to do: the request is served either way
    }
}

function answer(status, text, headers) {
    headers['content-type'] = { value: 'text/plain; charset=utf-8' };
    headers['cache-control'] = { value: 'no-store' };
    return { statusCode: status, statusDescription: text, headers: headers, body: text + '\n' };
}

async function viewerRequest(event) {
    var request = event.request;
    var path = releasePath(request.uri);
    if (path.status) {
        return answer(path.status, path.why, {});
    }
    var entry = await channelEntry(path.channel);
    if (entry === null) {
        return answer(503, 'release channel unavailable', { 'retry-after': { value: '5' } });
    }
    var cohort = viewerCohort(event);
    var choice = choose(entry, cohort);
    logRelease(path.channel, choice, cohort);
    // S3 reads `+` in a path as a space: a version may hold one (encoded whole), and so may a file
    // name, which stays as the viewer encoded it except for a literal `+` (RFC 3986: a plus sign).
    request.uri = PREFIX + encodeURIComponent(path.channel) + '/' + encodeURIComponent(choice.version) + '/' +
        path.file.replace(/\+/g, '%2B');
    return request;
}

async function viewerResponse(event) {
    var response = event.response;
    var headers = response.headers;
    var cohort = viewerCohort(event);
    var uri = event.request.uri;
    // Should CloudFront ever hand over the rewritten request, the version is in its path.
    var served = uri.indexOf(PREFIX) === 0 ? uri.slice(PREFIX.length).split('/') : null;
    var path = served ? { channel: decoded(served[0]) } : releasePath(uri);
    var entry = path.status ? null : await channelEntry(path.channel);
    if (entry !== null) {
        var choice = choose(entry, cohort);
        var version = served ? decoded(served[1]) : null;
        if (validVersion(version)) {
            choice = { version: version, kind: version === entry.canary ? 'canary' : 'stable' };
        }
        headers['x-media-edge-version'] = { value: choice.version };
        headers['x-media-edge-channel-kind'] = { value: choice.kind };
    }
    headers['x-media-edge-cohort'] = { value: String(cohort) };
    headers['cache-control'] = { value: 'public, max-age=' + BROWSER_MAX_AGE };
    var existing = event.request.cookies && event.request.cookies[COOKIE];
    if (!existing || existing.value !== cookieValue(cohort)) {
        response.cookies = response.cookies || {};
        response.cookies[COOKIE] = { value: cookieValue(cohort), attributes: COOKIE_ATTRIBUTES };
    }
    return response;
}
