// Validate C2PA manifests with @trustnxt/c2pa-ts, a pure TypeScript C2PA implementation
// (not c2pa-rs), for kinoseal's tests. Usage: node validate.mjs FILE...
// Prints one JSON line per file: {file, found, valid, codes: {success: [...], failure: [...]},
// activeManifest, actions, error}.
import * as fs from 'node:fs/promises';
import { BMFF } from '@trustnxt/c2pa-ts/asset';
import { SuperBox } from '@trustnxt/c2pa-ts/jumbf';
import { ManifestStore, ValidationResult } from '@trustnxt/c2pa-ts/manifest';

// c2pa-ts reads ISO-BMFF but only accepts HEIF brands; kinoseal writes MP4 (isom/mp42/avc1).
for (const brand of ['isom', 'iso2', 'iso4', 'iso5', 'iso6', 'mp41', 'mp42', 'avc1', 'dash', 'cmfc', 'M4V ']) {
    BMFF.canReadBrands.add(brand);
}

async function check(file) {
    const out = { file, found: false, valid: false, codes: { success: [], failure: [] } };
    let buf;
    try {
        buf = await fs.readFile(file);
    } catch (e) {
        return { ...out, error: `cannot read: ${e.message}` };
    }
    if (!BMFF.canRead(buf)) return { ...out, error: 'not an ISO-BMFF file with a known brand' };
    let result;
    try {
        const asset = new BMFF(buf);
        const jumbf = asset.getManifestJUMBF();
        if (!jumbf) return { ...out, error: 'no manifest' };
        out.found = true;
        const store = ManifestStore.read(SuperBox.fromBuffer(jumbf));
        const active = store.getActiveManifest();
        out.activeManifest = active?.label ?? null;
        out.actions = [];
        for (const a of active?.assertions?.assertions ?? []) {
            if (a.label?.startsWith('c2pa.actions')) {
                for (const act of a.actions ?? []) out.actions.push({ action: act.action, digitalSourceType: act.digitalSourceType ?? null });
            }
        }
        out.ingredients = (active?.assertions?.assertions ?? []).filter((a) => a.label?.startsWith('c2pa.ingredient')).length;
        result = await store.validate(asset);
    } catch (e) {
        result = ValidationResult.fromError(e);
        out.error = String(e?.message ?? e);
    }
    out.valid = result.isValid;
    for (const s of result.statusEntries) {
        (s.success ? out.codes.success : out.codes.failure).push({ code: s.code, explanation: s.explanation ?? null });
    }
    return out;
}

for (const file of process.argv.slice(2)) {
    process.stdout.write(JSON.stringify(await check(file)) + '\n');
}
