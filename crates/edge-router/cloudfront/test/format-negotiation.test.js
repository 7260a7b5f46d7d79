// Node's test runner over format-negotiation.js, loaded as CloudFront loads it: a script whose
// `handler` is called with the event. `node --test crates/edge-router/cloudfront/`
//
// The Accept values are what clients send for an <img> (or an image crawler's fetch), with sources:
// [MDN] https://developer.mozilla.org/en-US/docs/Web/HTTP/Guides/Content_negotiation/List_of_default_Accept_values
//       ("Values for an image": Firefox by version, Safari before/since Big Sur, Chrome and Edge 121+)
// [FETCH] https://github.com/whatwg/fetch/issues/1740 (values observed in 2024: Chrome with
//       image/svg+xml, Safari 17 with image/avif, image/jxl, image/heic)
// [WEBKIT] https://github.com/WebKit/WebKit/blob/main/Source/WebCore/loader/cache/CachedResourceRequest.cpp
//       acceptHeaderValueForImageResource: image/webp, then image/avif under HAVE(AVIF) (macOS 13 /
//       iOS 16, Safari 16), image/jxl and image/heic (Safari 17), video/*;q=0.8, then
//       image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5; Lockdown Mode keeps only image/webp.
//       Safari 16 on macOS 12 is built without AVIF and sends no image/avif.
// [WEBFEATURES] https://web-platform-dx.github.io/web-features-explorer/features/avif/ (AVIF in
//       Chrome 85, Edge 121, Firefox 93, Safari 16.4 / iOS 16.1): Chromium before those sent
//       Chrome's value without image/avif, as MDN's older Chrome row shows.
// [GOOGLE] https://developers.google.com/search/blog/2008/03/first-date-with-googlebot-headers-and
//       (Googlebot and Googlebot-Image/1.0 send Accept: */*)
// curl and wget send Accept: */* unless told otherwise. For Bingbot no published value was found:
// it is tested as */* (like Googlebot) and as Chromium's value for a renderer that fetches page
// images like a browser; either way it gets what it asked for.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const FILE = path.join(__dirname, '..', 'format-negotiation.js');

function load() {
    const source = fs.readFileSync(FILE, 'utf8');
    return new Function(`${source}\nreturn { handler, negotiate };`)();
}

const { handler, negotiate } = load();

function request(uri, accept) {
    const headers = {};
    if (accept !== undefined) headers.accept = { value: accept };
    return { version: '1.0', context: { eventType: 'viewer-request' }, viewer: { ip: '203.0.113.7' },
             request: { method: 'GET', uri, querystring: {}, headers, cookies: {} } };
}

function rewrite(uri, accept) {
    return handler(request(uri, accept)).uri;
}

const JPG = '/campaign/banner.jpg/0123456789ab/pc.jpg';
const PNG = '/campaign/logo.png/fedcba987654/thumbnail.png';

// [client, Accept, token for a .jpg variant, token for a .png variant]
const CLIENTS = [
    ['Chrome / Edge 121+, observed [FETCH]', 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8', 'avif', 'avif'],
    ['Chrome / Edge 121+ [MDN]', 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8', 'avif', 'avif'],
    ['Edge 79-120 (Chromium without AVIF) [WEBFEATURES]', 'image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8', 'webp', 'webp'],
    ['Chrome before 85 [MDN, older Chrome row]', 'image/webp,image/apng,image/*,*/*;q=0.8', 'webp', 'webp'],
    ['Firefox 128+ [MDN]', 'image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5', 'avif', 'avif'],
    ['Firefox 92-127 [MDN]', 'image/avif,image/webp,*/*', 'avif', 'avif'],
    ['Firefox 65-91, before AVIF [MDN]', 'image/webp,*/*', 'webp', 'webp'],
    ['Firefox 47-63 [MDN]', '*/*', 'fallback', 'fallback'],
    ['Firefox before 47 [MDN]', 'image/png,image/*;q=0.8,*/*;q=0.5', 'fallback', 'fallback'],
    ['Safari 17+ [FETCH, WEBKIT]', 'image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5', 'avif', 'avif'],
    ['Safari 16 on macOS 13 / iOS 16 [WEBKIT]', 'image/webp,image/avif,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5', 'avif', 'avif'],
    ['Safari in Lockdown Mode [WEBKIT]', 'image/webp,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5', 'webp', 'webp'],
    ['Safari 14/15, macOS 11+ [MDN]', 'image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5', 'webp', 'webp'],
    ['Safari 13 and earlier, before Big Sur [MDN]', 'image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5', 'fallback', 'fallback'],
    ['curl / wget', '*/*', 'fallback', 'fallback'],
    ['Googlebot, Googlebot-Image [GOOGLE]', '*/*', 'fallback', 'fallback'],
    ['Bingbot as */* (assumed)', '*/*', 'fallback', 'fallback'],
    ['a crawler rendering with Chromium (assumed)', 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8', 'avif', 'avif'],
    ['an HTTP client asking for any image', 'image/*', 'fallback', 'fallback'],
];

// [case, Accept (undefined: no header), token for .jpg, token for .png]
const EDGE_CASES = [
    ['no Accept header', undefined, 'fallback', 'fallback'],
    ['empty Accept', '', 'fallback', 'fallback'],
    ['blank Accept', '  \t ', 'fallback', 'fallback'],
    ['AVIF refused with q=0', 'image/avif;q=0,image/webp,*/*', 'webp', 'webp'],
    ['both refused', 'image/avif;q=0,image/webp;q=0,*/*', 'fallback', 'fallback'],
    ['both refused, q=0.0 and q=0.000', 'image/avif;q=0.0,image/webp;q=0.000,image/*', 'fallback', 'fallback'],
    ['a refusal beats a repeat', 'image/avif,image/avif;q=0,image/webp', 'webp', 'webp'],
    ['WebP weighted above AVIF', 'image/webp;q=0.9,image/avif;q=0.8,*/*;q=0.5', 'webp', 'webp'],
    ['AVIF below everything else', 'image/avif;q=0.5,*/*', 'fallback', 'fallback'],
    ['AVIF above the explicit fallback', 'image/avif;q=0.5,image/jpeg;q=0.4,image/png;q=0.4', 'avif', 'avif'],
    ['PNG preferred to AVIF: only the PNG URL falls back', 'image/avif;q=0.5,image/png;q=0.9', 'avif', 'fallback'],
    ['explicit fallback type beats image/*', 'image/webp;q=0.5,image/jpeg;q=0.1,image/*', 'webp', 'fallback'],
    ['only AVIF', 'image/avif', 'avif', 'avif'],
    ['only WebP', 'image/webp', 'webp', 'webp'],
    ['nothing acceptable', 'text/html', 'fallback', 'fallback'],
    ['mixed case', 'IMAGE/AVIF,Image/WebP,*/*', 'avif', 'avif'],
    ['mixed case refusal', 'Image/Avif;Q=0,image/WEBP', 'webp', 'webp'],
    ['whitespace', '  image/avif ; q=1 ,\timage/webp ;q=0.5 ', 'avif', 'avif'],
    ['spaces around =', 'image/avif; q = 0 , image/webp', 'webp', 'webp'],
    ['other parameters before q', 'image/avif;level=1;q=0.7,image/webp;q=0.6', 'avif', 'avif'],
    ['junk ranges ignored', 'garbage, ;;, =, image/webp ,,', 'webp', 'webp'],
    ['look-alike types', 'image/avifx,image/webpp,image/avif+xml,*/*', 'fallback', 'fallback'],
    ['malformed q ignores the range', 'image/avif;q=abc,image/webp', 'webp', 'webp'],
    ['negative q ignores the range', 'image/avif;q=-1,image/webp', 'webp', 'webp'],
    ['quoted q ignores the range', 'image/avif;q="0.5",*/*', 'fallback', 'fallback'],
    ['q above 1 ignores the range', 'image/avif;q=2,image/webp', 'webp', 'webp'],
    ['q=1.5 ignores the range', 'image/avif;q=1.5,image/webp;q=0.5', 'webp', 'webp'],
    ['q=1.000 and q=0.5000', 'image/avif;q=0.5000,image/webp;q=1.000', 'webp', 'webp'],
    ['q without leading zero', 'image/avif;q=.1,image/webp;q=.2', 'webp', 'webp'],
    ['image/jpg as the JPEG type', 'image/webp;q=0.5,image/jpg', 'fallback', 'webp'],
    ['only a wildcard type', 'image/*,*/*;q=0.1', 'fallback', 'fallback'],
];

function expected(token, uri) {
    return token === 'fallback' ? uri : uri.replace(/\.(jpg|png)$/, `.${token}`);
}

for (const [name, accept, jpg, png] of [...CLIENTS, ...EDGE_CASES]) {
    test(`${name}: ${JSON.stringify(accept)}`, () => {
        assert.equal(rewrite(JPG, accept), expected(jpg, JPG), '.jpg variant');
        assert.equal(rewrite(PNG, accept), expected(png, PNG), '.png variant');
    });
}

test('every variant URL has at most three cache keys over all clients', () => {
    for (const uri of [JPG, PNG, '/a.gif/0123456789ab/poster.jpg', '/media/x y.jpg/00000000abcd/tablet-2x_v.jpg']) {
        const keys = new Set([...CLIENTS, ...EDGE_CASES].map(([, accept]) => rewrite(uri, accept)));
        const stem = uri.replace(/\.(jpg|png)$/, '');
        assert.deepEqual([...keys].sort(), [uri, `${stem}.avif`, `${stem}.webp`].sort(), uri);
    }
});

test('the variant rule: <anything>/<12 lowercase hex>/<name>.jpg|png', () => {
    const chrome = CLIENTS[0][1];
    for (const uri of [
        '/campaign/banner.jpg/0123456789ab/pc.jpg',
        '/a/0123456789ab/thumbnail.png',
        '/out/prefix/deep/path/photo (1).jpeg/abcdefabcdef/mobile.jpg',  // OUTPUT_PREFIX and a nested path
        '/a.gif/0123456789ab/poster.jpg',
        '/a/0123456789ab/Name_2-x.jpg',
    ]) {
        assert.equal(rewrite(uri, chrome), uri.replace(/\.(jpg|png)$/, '.avif'), uri);
    }
});

test('everything else passes untouched, whatever the Accept', () => {
    const untouched = [
        '/campaign/banner.jpg/0123456789ab/pc.avif',   // explicit <picture> sources
        '/campaign/banner.jpg/0123456789ab/pc.webp',
        '/campaign/anim.gif/0123456789ab/animation.webp',
        '/campaign/anim.gif/0123456789ab/video.mp4',
        '/campaign/anim.gif/0123456789ab/video-mobile.mp4',
        '/campaign/banner.jpg/manifest.json',
        '/campaign/banner.jpg',
        '/0123456789ab/pc.jpg',                         // no path before the version
        '/a/0123456789AB/pc.jpg',                       // versions are lowercase
        '/a/0123456789a/pc.jpg',                        // 11 hex digits
        '/a/0123456789abc/pc.jpg',                      // 13
        '/a/0123456789ag/pc.jpg',                       // not hex
        '/a/0123456789ab/pc.JPG',                       // keys are lowercase
        '/a/0123456789ab/pc.jpeg',
        '/a/0123456789ab/p c.jpg',
        '/a/0123456789ab/.jpg',
        '/a/0123456789ab/sub/pc.jpg',
        '/a/0123456789ab/pc.jpg/',
        '/sdk/v1/logo.png',
        '/',
        '',
    ];
    for (const uri of untouched) {
        for (const [, accept] of [...CLIENTS, ...EDGE_CASES]) {
            assert.equal(rewrite(uri, accept), uri, `${uri} with ${JSON.stringify(accept)}`);
        }
    }
});

test('only the URI changes; the request is returned', () => {
    const event = request(JPG, CLIENTS[0][1]);
    event.request.querystring = { v: { value: '1' } };
    const before = JSON.parse(JSON.stringify(event.request));
    const out = handler(event);
    assert.equal(out, event.request);
    assert.equal(out.uri, expected('avif', JPG));
    assert.deepEqual({ ...out, uri: before.uri }, before);
});

test('repeated Accept headers (multiValue) are read together', () => {
    const event = request(JPG);
    event.request.headers.accept = { value: 'image/webp', multiValue: [{ value: 'image/webp' }, { value: 'image/avif' }] };
    assert.equal(handler(event).uri, expected('avif', JPG));
    const refused = request(JPG);
    refused.request.headers.accept = { value: 'image/avif', multiValue: [{ value: 'image/avif' }, { value: 'image/avif;q=0' }] };
    assert.equal(handler(refused).uri, JPG);
});

test('odd header objects do not throw', () => {
    for (const headers of [undefined, {}, { accept: {} }, { accept: { value: 42 } }, { accept: { multiValue: [null, {}] } }]) {
        const event = request(JPG);
        event.request.headers = headers;
        assert.equal(handler(event).uri, JPG);
    }
});

test('a huge Accept is parsed in bounded work and still negotiates', () => {
    const junk = new Array(5000).fill('x/y;q=0.1').join(',');
    assert.equal(negotiate(`image/webp,${junk}`, ['image/jpeg']), 'webp');
    // Ranges past the first 64 are not read.
    assert.equal(negotiate(`${junk},image/webp`, ['image/jpeg']), 'fallback');
});

test('fits CloudFront Functions: under 10 KB, no ${ for the template\'s rendering', () => {
    const source = fs.readFileSync(FILE, 'utf8');
    assert.ok(Buffer.byteLength(source) < 10 * 1024, `${Buffer.byteLength(source)} bytes`);
    assert.ok(!source.includes('${'));
    assert.match(source, /^function handler\(event\)/m);
});
