// CloudFront Function (cloudfront-js-2.0), viewer response, on release-managed paths when the Rust
// router decides (ReleaseRouting=origin). Deployed after cohort.js.
//
// Persists the viewer's cohort in the me_cohort cookie so it survives network changes. The SDK is
// loaded cross-site (a merchant page includes our script), so the cookie is a third-party one:
// SameSite=None and Secure are required, and Partitioned (CHIPS) keeps it working in browsers that
// block unpartitioned third-party cookies (the cohort is then stable per embedding site).
//
// The cookie records the cohort that was served, which the response says: the router echoes
// x-media-edge-cohort, and since that header is part of the cache key the cached copy a cache hit
// returns carries the cohort it was cached for. event.request is no substitute: AWS documents it
// as "the actual request that CloudFront received from the viewer" (CloudFront Functions event
// structure), so it need not hold what viewer-request.js set, and may hold a value the viewer sent
// itself. It is used only when the response has no cohort at all.
var HEADER = 'x-media-edge-cohort';
var ATTRIBUTES = 'Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=None; Partitioned';

function sentHeader(headers, name) {
    return headers && headers[name] && typeof headers[name].value === 'string' ? headers[name].value : null;
}

function handler(event) {
    var request = event.request;
    var response = event.response;
    var served = sentHeader(response.headers, HEADER);
    var cohort = parseCohort(served !== null ? served : sentHeader(request.headers, HEADER));
    if (cohort === null) {
        return response;
    }
    var existing = request.cookies && request.cookies[COOKIE] && request.cookies[COOKIE].value;
    if (existing !== cookieValue(cohort)) {
        response.cookies = response.cookies || {};
        response.cookies[COOKIE] = { value: cookieValue(cohort), attributes: ATTRIBUTES };
    }
    return response;
}
