// web/herald.d.ts, the TypeScript declarations of herald.js: a usage file
// type-checks under `tsc --strict`, a misuse file does not (so the check is
// real), and the names the declarations export are the module's exports.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe } from 'node:test';
import { test } from './lib/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TSC = path.join(HERE, 'node_modules/typescript/bin/tsc');
const WEB = path.resolve(HERE, '../../web');

function tsc(file) {
    const args = [TSC, '--strict', '--noEmit', '--target', 'es2022', '--module', 'es2022',
        '--moduleResolution', 'bundler', '--lib', 'es2022,dom', path.join(HERE, 'fixtures', file)];
    return new Promise((resolve) => {
        execFile(process.execPath, args, { timeout: 60000 }, (err, stdout, stderr) =>
            resolve({ code: err ? (err.code ?? 1) : 0, out: `${stdout}${stderr}` }));
    });
}

describe('herald.d.ts', () => {
    test('the documented usage type-checks under --strict', async () => {
        const r = await tsc('herald-usage.ts');
        assert.equal(r.code, 0, r.out);
    });

    test('misuse is refused: wrong option type, channel type, event name', async () => {
        const r = await tsc('herald-misuse.ts');
        assert.notEqual(r.code, 0);
        // One error per misuse line: option type, channel type, event name.
        assert.match(r.out, /herald-misuse\.ts\(4,\d+\): error TS2322/);
        assert.match(r.out, /herald-misuse\.ts\(5,\d+\): error TS2345/);
        assert.match(r.out, /herald-misuse\.ts\(6,\d+\): error TS2345.*no-such-event/);
    });

    test('the declared exports are the module\'s exports', async () => {
        const mod = await import(pathToFileURL(path.join(WEB, 'herald.js')).href);
        const fs = await import('node:fs');
        const dts = fs.readFileSync(path.join(WEB, 'herald.d.ts'), 'utf8');
        const declared = [...dts.matchAll(/^export declare (?:class|function|const) (\w+)/gm)].map((m) => m[1]);
        if (/^export default \w+;/m.test(dts)) declared.push('default');
        assert.deepEqual(declared.sort(), Object.keys(mod).sort());
    });
});
