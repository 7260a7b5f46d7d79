// Viewer request of ReleaseRouting=edge: deployed as cohort.js + release-edge.js + this file.
async function handler(event) {
    return viewerRequest(event);
}
