// CloudFront Function (cloudfront-js-2.0), viewer request, on the default behaviour (variants).
//
// One URL per still variant. A page links the fallback key, <path>/<version>/<variant>.jpg (or
// .png); this function picks the representation from the Accept header and rewrites the URI to
// the key of the same name ending .avif or .webp, or leaves the fallback. The processor stores all
// three keys of every still variant (a format not worth storing holds the smaller
// representation's bytes under its own Content-Type), so every rewritten key exists.
//
// The rewritten URI is the cache key: at most three cached copies per variant. The raw Accept
// header stays out of the cache policy: clients send dozens of distinct values, and keying on
// them splits the cache into one copy per browser build.
//
// Negotiation (RFC 9110 12.5.1): media ranges with q-values, case-insensitive, whitespace and
// junk tolerated (a range that does not parse is ignored). AVIF and WebP count only when named
// explicitly with q > 0: image/* and */* come from clients that decode neither. The fallback's
// weight is its most specific range (image/jpeg or image/png, else image/*, else */*). The
// highest weight wins; ties go to AVIF, then WebP (smaller), then the fallback. No Accept header,
// or nothing acceptable in it: the fallback, which every image client can show.
//
// Anything else passes untouched: explicit .avif/.webp URLs (<picture> sources), videos,
// animation.webp, manifests, other paths. Vary: Accept reaches viewers through the response
// headers policy on the same behaviour (infra/template.in.yaml).
var VARIANT = /^(\/.+\/[0-9a-f]{12}\/[A-Za-z0-9_-]+\.)(jpg|png)$/;
var MAX_RANGES = 64;

function acceptValue(headers) {
    var header = headers && headers.accept;
    if (!header) {
        return '';
    }
    if (header.multiValue && header.multiValue.length) {
        var values = [];
        for (var i = 0; i < header.multiValue.length; i++) {
            var item = header.multiValue[i];
            if (item && typeof item.value === 'string') {
                values.push(item.value);
            }
        }
        return values.join(',');
    }
    return typeof header.value === 'string' ? header.value : '';
}

// The weight of one media range from its parameters: 1 without q, null when q is not a qvalue
// (0 to 1; leading zero and digit count are not insisted on).
function weight(params) {
    for (var i = 0; i < params.length; i++) {
        var param = params[i];
        var eq = param.indexOf('=');
        if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') {
            continue;
        }
        var value = param.slice(eq + 1).trim();
        if (!/^(?:0(?:\.[0-9]*)?|1(?:\.0*)?|\.[0-9]+)$/.test(value)) {
            return null;
        }
        return parseFloat(value);
    }
    return 1;
}

// A type named twice counts with its lower weight: a refusal is never overruled.
function lower(seen, q) {
    return seen === null || q < seen ? q : seen;
}

// 'avif', 'webp' or 'fallback' for an Accept value; fallbackTypes are the fallback's own types.
function negotiate(accept, fallbackTypes) {
    var avif = null;
    var webp = null;
    var exact = null;
    var anyImage = null;
    var any = null;
    var ranges = accept.split(',');
    var count = ranges.length < MAX_RANGES ? ranges.length : MAX_RANGES;
    for (var i = 0; i < count; i++) {
        var parts = ranges[i].split(';');
        var type = parts[0].trim().toLowerCase();
        var q = type ? weight(parts.slice(1)) : null;
        if (q === null) {
            continue;
        }
        if (type === 'image/avif') {
            avif = lower(avif, q);
        } else if (type === 'image/webp') {
            webp = lower(webp, q);
        } else if (fallbackTypes.indexOf(type) >= 0) {
            exact = lower(exact, q);
        } else if (type === 'image/*') {
            anyImage = lower(anyImage, q);
        } else if (type === '*/*') {
            any = lower(any, q);
        }
    }
    var fallback = exact !== null ? exact : anyImage !== null ? anyImage : any !== null ? any : 0;
    var a = avif === null ? 0 : avif;
    var w = webp === null ? 0 : webp;
    if (a > 0 && a >= w && a >= fallback) {
        return 'avif';
    }
    if (w > 0 && w >= fallback) {
        return 'webp';
    }
    return 'fallback';
}

function handler(event) {
    var request = event.request;
    var match = VARIANT.exec(request.uri);
    if (!match) {
        return request;
    }
    var fallbackTypes = match[2] === 'png' ? ['image/png'] : ['image/jpeg', 'image/jpg'];
    var token = negotiate(acceptValue(request.headers), fallbackTypes);
    if (token !== 'fallback') {
        request.uri = match[1] + token;
    }
    return request;
}
