/**
 * `npm run specs -- import-jpos FILE.xml [--name NAME] [--out FILE]`: a jPOS GenericPackager XML file as a dialect
 * spec (docs/codec.md, "Importing a jPOS packager"). The spec is checked by compiling it before it is written.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseCli, usageError } from './args.js';
import { importJposPackager } from '../iso8583/jpos-import.js';
import { compileDialect } from '../iso8583/index.js';
import { SwitchError } from '../errors.js';

const spec = {
  name: 'specs',
  usage: `usage: npm run specs -- import-jpos FILE.xml [--name NAME] [--out FILE]

import-jpos   turn a jPOS GenericPackager XML file into a dialect spec (JSON on stdout, or --out FILE)
options:
  --name NAME   the dialect's name (default: the file's name without .xml, lower-cased)
  --out FILE    write the spec there (e.g. specs/NAME.json) instead of stdout
  -h, --help    this text`,
  options: { name: { type: 'string' }, out: { type: 'string' } },
  allowPositionals: true,
} as const;

const { values, positionals } = parseCli(spec);
const [command, file, ...rest] = positionals;
if (command !== 'import-jpos' || !file || rest.length > 0)
  usageError(spec, command === undefined ? 'a command is required' : command !== 'import-jpos' ? `unknown command ${command}` : 'one FILE.xml is required');
const name =
  values.name ??
  path
    .basename(file!, path.extname(file!))
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-');
try {
  const dialect = importJposPackager(readFileSync(file!, 'utf8'), name, path.basename(file!));
  compileDialect(dialect);
  const json = `${JSON.stringify({ $schema: './spec.schema.json', ...dialect }, null, 2)}\n`;
  if (values.out) {
    writeFileSync(values.out, json);
    process.stderr.write(`wrote ${values.out}: dialect ${name}, ${Object.keys(dialect.fields).length} fields\n`);
  } else process.stdout.write(json);
} catch (e) {
  if (e instanceof SwitchError) {
    process.stderr.write(`specs: ${e.code}: ${e.message}\n`);
    process.exit(1);
  }
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
    process.stderr.write(`specs: ${file}: no such file\n`);
    process.exit(1);
  }
  throw e;
}
