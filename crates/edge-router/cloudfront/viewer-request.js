// CloudFront Function (cloudfront-js-2.0), viewer request, on release-managed paths.
//
// Gives every request a cohort 0..COHORTS-1 in the x-media-edge-cohort header, which is part of
// the cache key: one cached copy per cohort, and the router behind it picks canary or stable by
// cohort. A valid me_cohort cookie wins (set by viewer-response.js on the first response).
// Otherwise the cohort is derived from the TLS fingerprint (JA4, JA3 as fallback) together with
// the viewer's network (/24 or /48): the fingerprint alone is shared by everyone on a browser build
// and JA3 changes per connection in Chrome. Any header a client sends with the same name is
// overwritten, so a viewer can pick its cohort only through the cookie.
//
// Keep COHORTS equal to the router's COHORT_COUNT (the SAM template sets both).
var crypto = require('crypto');

var COHORTS = 20;
var COOKIE = 'me_cohort';
var HEADER = 'x-media-edge-cohort';

function parseCohort(value) {
    if (typeof value !== 'string' || !/^[0-9]{1,3}$/.test(value)) {
        return null;
    }
    var n = parseInt(value, 10);
    return n < COHORTS ? n : null;
}

function network(ip) {
    ip = ip.trim().toLowerCase();
    if (ip.indexOf(':') >= 0) {
        return ip.split(':').slice(0, 3).join(':');
    }
    var octets = ip.split('.');
    return octets.length === 4 ? octets.slice(0, 3).join('.') : ip;
}

function deriveCohort(ja4, ja3, ip) {
    var fingerprint = ja4 || ja3 || '-';
    var net = ip ? network(ip) : '-';
    var hex = crypto.createHash('sha256').update('v1|' + fingerprint + '|' + net).digest('hex');
    return parseInt(hex.slice(0, 8), 16) % COHORTS;
}

function headerValue(headers, name) {
    return headers[name] && headers[name].value ? headers[name].value : '';
}

function handler(event) {
    var request = event.request;
    var cookie = request.cookies && request.cookies[COOKIE];
    var cohort = cookie ? parseCohort(cookie.value) : null;
    if (cohort === null) {
        var headers = request.headers;
        cohort = deriveCohort(
            headerValue(headers, 'cloudfront-viewer-ja4-fingerprint'),
            headerValue(headers, 'cloudfront-viewer-ja3-fingerprint'),
            event.viewer && event.viewer.ip ? event.viewer.ip : ''
        );
    }
    request.headers[HEADER] = { value: String(cohort) };
    return request;
}
