// Loads a CloudFront Function as deployed: its files from functions.json in order, whole-line
// comments left out (what scripts/render-template.py inlines), run as one script whose `handler`
// CloudFront calls.
// `import cf from 'cloudfront'` is the one import CloudFront Functions offer for the
// KeyValueStore; here `cf` is the stand-in a test passes.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const DIR = path.join(__dirname, '..');

function functionSource(name) {
    const parts = JSON.parse(fs.readFileSync(path.join(DIR, 'functions.json'), 'utf8')).functions[name];
    if (!parts) throw new Error(`no function ${name} in functions.json`);
    return parts
        .map((part) => fs.readFileSync(path.join(DIR, part), 'utf8'))
        .join('\n')
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('//'))
        .join('\n');
}

// `names`: functions of the script to return beside `handler` (for unit checks).
function loadFunction(name, { cohorts, cf, names = [] } = {}) {
    let source = functionSource(name);
    const imports = source.split('\n').filter((line) => line.startsWith('import '));
    for (const line of imports) {
        if (line !== "import cf from 'cloudfront';") throw new Error(`unexpected import: ${line}`);
    }
    source = source.split('\n').filter((line) => !line.startsWith('import ')).join('\n');
    if (cohorts !== undefined) {
        source = source.replace(/var COHORTS = \d+;/, `var COHORTS = ${cohorts};`);
    }
    const exported = ['handler', ...names].join(', ');
    return new Function('require', 'cf', `${source}\nreturn { ${exported} };`)(require, cf);
}

module.exports = { functionSource, loadFunction };
