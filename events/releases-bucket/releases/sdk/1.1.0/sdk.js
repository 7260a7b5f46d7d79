/* media-edge sample SDK 1.1.0 (canary) */
window.mediaEdgeSdk = { version: '1.1.0' };
