// Writes `file.gz` (and, with `--brotli`, `file.br`) beside each file given,
// so the server sends the browser bundle compressed without compressing it on
// every request (tower-http's ServeDir picks the variant the browser accepts).
// Run by `cargo xtask` when it builds the site: brotli at its best quality for
// release builds, a fast gzip for development ones.
//
//   node tools/precompress.mjs [--brotli] [--fast] FILE...
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const args = process.argv.slice(2);
const brotli = args.includes('--brotli');
const fast = args.includes('--fast');
const files = args.filter((a) => !a.startsWith('--'));
if (files.length === 0) {
  console.error('usage: precompress.mjs [--brotli] [--fast] FILE...');
  process.exit(2);
}
for (const file of files) {
  const data = readFileSync(file);
  // A variant left from an earlier build must never outlive its file.
  rmSync(`${file}.gz`, { force: true });
  rmSync(`${file}.br`, { force: true });
  const gz = gzipSync(data, { level: fast ? 1 : 9 });
  writeFileSync(`${file}.gz`, gz);
  let line = `    ${file}: ${data.length} bytes, gzip ${gz.length}`;
  if (brotli) {
    const br = brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    });
    writeFileSync(`${file}.br`, br);
    line += `, brotli ${br.length}`;
  }
  console.error(line);
}
