/* media-edge sample SDK 1.0.0 */
window.mediaEdgeSdk = { version: '1.0.0' };
