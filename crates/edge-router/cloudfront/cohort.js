// The viewer's cohort, shared by the CloudFront Functions that need it (the renderer puts this file
// in front of each one: CloudFront Functions cannot import code of their own).
//
// A valid me_cohort cookie wins (viewer-response sets it on the first response). It holds
// "<N>-<cohort>": a cookie from another cohort count (an older deployment's) is not trusted, since
// its cohort would land in another share (cohort 3 of 20 is not cohort 3 of 100). Otherwise the
// cohort is derived from the TLS fingerprint (JA4, JA3 as fallback) together with the viewer's
// network (/24 or /48): the fingerprint alone is shared by everyone on a browser build and JA3
// changes per connection in Chrome. The Rust router derives the same (src/cohort.rs); both are
// checked against testdata/cohort-vectors.json.
var crypto = require('crypto');

var COHORTS = 20;
var COOKIE = 'me_cohort';

function parseCohort(value) {
    if (typeof value !== 'string' || !/^[0-9]{1,3}$/.test(value)) {
        return null;
    }
    var n = parseInt(value, 10);
    return n < COHORTS ? n : null;
}

function cookieValue(cohort) {
    return COHORTS + '-' + cohort;
}

// The cohort a me_cohort cookie holds, if it was set for this cohort count.
function cookieCohort(value) {
    var parts = typeof value === 'string' ? /^([0-9]{1,4})-([0-9]{1,3})$/.exec(value) : null;
    return parts && parseInt(parts[1], 10) === COHORTS ? parseCohort(parts[2]) : null;
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
    return headers && headers[name] && typeof headers[name].value === 'string' ? headers[name].value : '';
}

function viewerCohort(event) {
    var request = event.request;
    var cookie = request.cookies && request.cookies[COOKIE];
    var cohort = cookie ? cookieCohort(cookie.value) : null;
    if (cohort !== null) {
        return cohort;
    }
    return deriveCohort(
        headerValue(request.headers, 'cloudfront-viewer-ja4-fingerprint'),
        headerValue(request.headers, 'cloudfront-viewer-ja3-fingerprint'),
        event.viewer && event.viewer.ip ? event.viewer.ip : ''
    );
}
