// CloudFront Function (cloudfront-js-2.0), viewer response, on release-managed paths.
//
// Persists the viewer's cohort in the me_cohort cookie so it survives network changes. The SDK is
// loaded cross-site (a merchant page includes our script), so the cookie is a third-party one:
// SameSite=None and Secure are required, and Partitioned (CHIPS) keeps it working in browsers that
// block unpartitioned third-party cookies (the cohort is then stable per embedding site).
var COHORTS = 20;
var COOKIE = 'me_cohort';
var HEADER = 'x-media-edge-cohort';
var ATTRIBUTES = 'Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=None; Partitioned';

function validCohort(value) {
    return typeof value === 'string' && /^[0-9]{1,3}$/.test(value) && parseInt(value, 10) < COHORTS;
}

function handler(event) {
    var request = event.request;
    var response = event.response;
    var fromRequest = request.headers[HEADER] && request.headers[HEADER].value;
    var fromOrigin = response.headers[HEADER] && response.headers[HEADER].value;
    var cohort = validCohort(fromRequest) ? fromRequest : (validCohort(fromOrigin) ? fromOrigin : null);
    var existing = request.cookies && request.cookies[COOKIE] && request.cookies[COOKIE].value;
    if (cohort !== null && existing !== cohort) {
        response.cookies = response.cookies || {};
        response.cookies[COOKIE] = { value: cohort, attributes: ATTRIBUTES };
    }
    return response;
}
