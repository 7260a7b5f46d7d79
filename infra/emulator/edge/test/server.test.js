// The local edge's own rules (infra/emulator/edge/server.js), without an emulator: CloudFront's
// path patterns and first match, and the key S3 resolves a path to. The whole edge against a
// deployed stack: infra/emulator/tests/test_edge.py.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { patternMatches, behaviourFor, s3Key, encodeKey, mayRead } = require('../server');

test('path patterns: * spans slashes, ? is one character, case-sensitive, leading / optional', () => {
    assert.ok(patternMatches('/sdk/*', '/sdk/a/b.js'));
    assert.ok(patternMatches('/sdk/*', '/sdk/'));
    assert.ok(!patternMatches('/sdk/*', '/sdk'));
    assert.ok(patternMatches('/sdk', '/sdk'));
    assert.ok(!patternMatches('/sdk', '/sdk/'));
    assert.ok(patternMatches('*/manifest.json', '/a b/x.jpg/manifest.json'));
    assert.ok(patternMatches('*.js', '/sdk.js'));
    assert.ok(!patternMatches('*.js', '/sdk.JS'));
    assert.ok(!patternMatches('/sdk/*', '/SDK/sdk.js'));
    assert.ok(patternMatches('/v?/*', '/v1/x'));
    assert.ok(!patternMatches('/v?/*', '/v12/x'));
    assert.ok(patternMatches('images/*.jpg', '/images/a.jpg'));
    // Regex characters in a pattern are literal.
    assert.ok(patternMatches('/a+b/(x)', '/a+b/(x)'));
    assert.ok(!patternMatches('/a+b/(x)', '/aab/x'));
    assert.ok(patternMatches('*', '/'));
});

test('the first matching behaviour wins, the default last', () => {
    const config = { behaviours: [
        { pathPattern: '/sdk/*' }, { pathPattern: '*/manifest.json' }, { pathPattern: '*.js' },
        { pathPattern: '*', default: true },
    ] };
    assert.equal(behaviourFor(config, '/sdk/x/manifest.json').pathPattern, '/sdk/*');
    assert.equal(behaviourFor(config, '/a/manifest.json').pathPattern, '*/manifest.json');
    assert.equal(behaviourFor(config, '/a/manifest.js').pathPattern, '*.js');
    assert.equal(behaviourFor(config, '/a/b.jpg').pathPattern, '*');
});

test('S3 resolves a path: + is a space, %XX are UTF-8 bytes, bad escapes are refused', () => {
    assert.equal(s3Key('/a%20b%2Bc%25d/%ED%95%9C.jpg'), 'a b+c%d/한.jpg');
    assert.equal(s3Key('/C++%20logo.png'), 'C   logo.png');
    assert.equal(s3Key('/%E2%82%AC'), '€');
    assert.equal(s3Key('/100%'), null);
    assert.equal(s3Key('/%FF'), null);
});

test('keys are encoded for the emulator as SigV4 encodes them', () => {
    assert.equal(encodeKey("a b+c%d/한/x!'()*~.jpg"), 'a%20b%2Bc%25d/%ED%95%9C/x%21%27%28%29%2A~.jpg');
});

test('the bucket policy decides which keys the distribution may read', () => {
    const access = { get: ['releases/*'], deny_get: ['releases/secret?/*'], list: true };
    assert.ok(mayRead(access, 'releases/sdk/1.4.0/sdk.js'));
    assert.ok(!mayRead(access, 'channels/sdk.json'));
    assert.ok(!mayRead(access, 'releases/secret1/x'));
    assert.ok(!mayRead({ get: [], deny_get: [], list: false }, 'a'));
    assert.ok(mayRead(undefined, 'anything'));
});
