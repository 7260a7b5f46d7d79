// CloudFront Function (cloudfront-js-2.0), viewer request, on release-managed paths when the Rust
// router decides (ReleaseRouting=origin). Deployed after cohort.js.
//
// Gives every request a cohort 0..COHORTS-1 in the x-media-edge-cohort header, which is part of
// the cache key: one cached copy per cohort, and the router behind it picks canary or stable by
// cohort. Any header a client sends with the same name is overwritten, so a viewer can pick its
// cohort only through the cookie.
//
// Keep COHORTS equal to the router's COHORT_COUNT (the SAM template sets both).
var HEADER = 'x-media-edge-cohort';

function handler(event) {
    var request = event.request;
    request.headers[HEADER] = { value: String(viewerCohort(event)) };
    return request;
}
