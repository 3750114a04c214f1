/**
 * jPOS GenericPackager XML → a dialect spec (docs/codec.md, "Importing a jPOS packager"). A packager file lists
 * `<isofield id=".." length=".." name=".." class="org.jpos.iso.IF…" [pad="true|false"]/>` per field; each class
 * name says how jPOS writes the field (IFA_ ASCII, IFB_ binary/BCD, IFE_ EBCDIC; LL/LLL the length prefix, H a
 * binary prefix; NUMERIC, CHAR, BINARY, AMOUNT, BITMAP the content). The importer knows the common ones and
 * refuses any other by its name, so no field is guessed.
 */
import type { DialectSpec, FieldSpec, PrefixKind, PrefixEncoding } from './codec-types.js';
import { SwitchError } from '../errors.js';

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * A small XML reader for packager files: elements, attributes, comments, the XML declaration and a DOCTYPE.
 * Text content is ignored (packager files carry none that matters).
 */
function parseXml(text: string, file: string): XmlElement {
  const fail = (reason: string): never => {
    throw new SwitchError('SW_ERR_JPOS_IMPORT', { file, reason });
  };
  const root: XmlElement = { name: '#document', attrs: {}, children: [] };
  const stack: XmlElement[] = [root];
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt < 0) break;
    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt + 4);
      if (end < 0) fail('a comment is not closed');
      i = end + 3;
      continue;
    }
    if (text.startsWith('<?', lt)) {
      const end = text.indexOf('?>', lt + 2);
      if (end < 0) fail('a processing instruction is not closed');
      i = end + 2;
      continue;
    }
    if (text.startsWith('<!', lt)) {
      // DOCTYPE, possibly with an internal subset in [...]
      let depth = 0;
      let j = lt + 2;
      for (; j < text.length; j++) {
        const c = text[j];
        if (c === '[') depth++;
        else if (c === ']') depth--;
        else if (c === '>' && depth === 0) break;
      }
      if (j >= text.length) fail('a declaration is not closed');
      i = j + 1;
      continue;
    }
    const gt = findTagEnd(text, lt + 1);
    if (gt < 0) fail(`a tag at character ${lt} is not closed`);
    const body = text.slice(lt + 1, gt);
    i = gt + 1;
    if (body.startsWith('/')) {
      const name = body.slice(1).trim();
      const open = stack.pop();
      if (!open || open.name !== name || stack.length === 0) fail(`</${name}> closes ${open?.name ?? 'nothing'}`);
      continue;
    }
    const selfClosing = body.endsWith('/');
    const inner = selfClosing ? body.slice(0, -1) : body;
    const m = /^\s*([A-Za-z_][\w.:-]*)/.exec(inner);
    if (!m) fail(`a tag at character ${lt} has no name`);
    const el: XmlElement = { name: m![1]!, attrs: parseAttrs(inner.slice(m![0].length), file), children: [] };
    stack[stack.length - 1]!.children.push(el);
    if (!selfClosing) stack.push(el);
  }
  if (stack.length !== 1) fail(`<${stack[stack.length - 1]!.name}> is not closed`);
  return root;
}

function findTagEnd(text: string, from: number): number {
  let quote = '';
  for (let j = from; j < text.length; j++) {
    const c = text[j]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '>') return j;
  }
  return -1;
}

function parseAttrs(s: string, file: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const re = /\s*([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)')/gy;
  let at = 0;
  for (;;) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) break;
    const raw = m[3] ?? m[4] ?? '';
    attrs[m[1]!] = raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (e, name: string) => {
      if (name.startsWith('#x')) return String.fromCharCode(parseInt(name.slice(2), 16));
      if (name.startsWith('#')) return String.fromCharCode(Number(name.slice(1)));
      const v = ENTITIES[name];
      if (v === undefined) throw new SwitchError('SW_ERR_JPOS_IMPORT', { file, reason: `unknown entity ${e}` });
      return v;
    });
    at = re.lastIndex;
  }
  if (s.slice(at).trim() !== '') throw new SwitchError('SW_ERR_JPOS_IMPORT', { file, reason: `cannot read the attributes "${s.trim().slice(0, 40)}"` });
  return attrs;
}

/** What a jPOS class writes: the content kind, its encoding, and the length prefix. */
interface ClassMeaning {
  kind: 'numeric' | 'char' | 'binary' | 'amount' | 'bitmap';
  /** a: ASCII text (binary as hex text); b: BCD digits, raw binary, ASCII chars; e: EBCDIC. */
  family: 'a' | 'b' | 'e';
  prefix: PrefixKind;
  prefixEncoding: PrefixEncoding;
}

const PREFIX_DIGITS: Readonly<Record<string, PrefixKind>> = { '': 'fixed', L: 'l', LL: 'll', LLL: 'lll', LLLL: 'llll', LLLLL: 'lllll', LLLLLL: 'llllll' };

/** The meaning of a class name, or null for one the importer does not know. */
export function jposClass(className: string): ClassMeaning | null {
  const short = className.replace(/^org\.jpos\.iso\./, '');
  if (short === 'IF_CHAR') return { kind: 'char', family: 'a', prefix: 'fixed', prefixEncoding: 'ascii' };
  const m = /^IF([ABE])_(L{0,6})(H?)(NUMERIC|NUM|CHAR|BINARY|AMOUNT|BITMAP)$/.exec(short);
  if (!m) return null;
  const family = m[1]!.toLowerCase() as 'a' | 'b' | 'e';
  const prefix = PREFIX_DIGITS[m[2]!];
  const binaryPrefix = m[3] === 'H';
  const content = m[4]!;
  const kind = content === 'NUMERIC' || content === 'NUM' ? 'numeric' : (content.toLowerCase() as ClassMeaning['kind']);
  if (prefix === undefined) return null;
  // fixed-length classes say NUMERIC, variable ones NUM; BITMAP and AMOUNT are fixed
  if ((content === 'NUMERIC' || content === 'AMOUNT' || content === 'BITMAP') && prefix !== 'fixed') return null;
  if (content === 'NUM' && prefix === 'fixed') return null;
  if (binaryPrefix && (family !== 'b' || prefix === 'fixed')) return null;
  // jPOS's prefixers: IFA_ ASCII digits, IFB_ BCD (IFB_…H…: one or two binary bytes), IFE_ EBCDIC digits
  const prefixEncoding: PrefixEncoding = family === 'a' ? 'ascii' : family === 'e' ? 'ebcdic' : binaryPrefix ? 'binary' : 'bcd';
  return { kind, family, prefix, prefixEncoding };
}

function fieldSpec(el: XmlElement, file: string): FieldSpec {
  const id = el.attrs['id']!;
  const cls = el.attrs['class'] ?? '';
  const meaning = jposClass(cls);
  if (!meaning) throw new SwitchError('SW_ERR_JPOS_UNKNOWN_PACKAGER', { file, field: id, packager: cls || '(no class)' });
  const length = Number(el.attrs['length']);
  if (!Number.isInteger(length) || length < 0) throw new SwitchError('SW_ERR_JPOS_IMPORT', { file, reason: `field ${id} has no valid length` });
  const pad = el.attrs['pad'];
  const out: FieldSpec = { type: 'ans', length, encoding: 'ascii' };
  switch (meaning.kind) {
    case 'numeric':
      out.type = id === '35' || id === '36' ? 'z' : 'n';
      out.encoding = meaning.family === 'b' ? 'bcd' : meaning.family === 'e' ? 'ebcdic' : 'ascii';
      if (meaning.family === 'b') {
        // jPOS pads an odd digit count with a 0 nibble: on the left when pad="true", else (its default) on the right
        const left = pad === 'true';
        out.bcdPad = { side: left ? 'left' : 'right', nibble: 0 };
      }
      break;
    case 'char':
      out.type = 'ans';
      out.encoding = meaning.family === 'e' ? 'ebcdic' : 'ascii';
      break;
    case 'binary':
      out.type = 'b';
      out.encoding = meaning.family === 'a' ? 'hex' : 'binary';
      break;
    case 'amount':
      // C or D, then the digits; jPOS counts the sign in the length
      out.type = 'xn';
      out.length = length - 1;
      out.encoding = meaning.family === 'b' ? 'bcd' : meaning.family === 'e' ? 'ebcdic' : 'ascii';
      if (meaning.family === 'b') out.bcdPad = { side: 'left', nibble: 0 };
      break;
    case 'bitmap':
      throw new SwitchError('SW_ERR_JPOS_IMPORT', { file, reason: `field ${id}: a bitmap class belongs on field 1` });
  }
  if (meaning.prefix !== 'fixed') out.prefix = { kind: meaning.prefix, encoding: meaning.prefixEncoding };
  const name = el.attrs['name'];
  if (name) out.description = name;
  if (['35', '36', '45', '52', '55'].includes(id)) out.sensitive = true;
  return out;
}

/** A dialect spec from a GenericPackager XML text. `name` becomes the dialect's name. */
export function importJposPackager(xml: string, name: string, file = '(input)'): DialectSpec {
  const doc = parseXml(xml, file);
  const root = doc.children.find((c) => c.name === 'isopackager');
  if (!root) throw new SwitchError('SW_ERR_JPOS_IMPORT', { file, reason: 'no <isopackager> element' });
  const fields = root.children.filter((c) => c.name === 'isofield' || c.name === 'isofieldpackager');
  const byId = new Map<number, XmlElement>();
  for (const f of fields) {
    const id = Number(f.attrs['id']);
    if (!Number.isInteger(id) || id < 0 || id > 192 || String(id) !== f.attrs['id'])
      throw new SwitchError('SW_ERR_JPOS_IMPORT', { file, reason: `a field id "${f.attrs['id'] ?? ''}" is not 0..192` });
    if (byId.has(id)) throw new SwitchError('SW_ERR_JPOS_IMPORT', { file, reason: `field ${id} is defined twice` });
    if (f.name === 'isofieldpackager')
      throw new SwitchError('SW_ERR_JPOS_UNKNOWN_PACKAGER', {
        file,
        field: String(id),
        packager: `${f.attrs['class'] ?? 'isofieldpackager'} (subfield packagers)`,
      });
    byId.set(id, f);
  }
  const mtiEl = byId.get(0);
  const bitmapEl = byId.get(1);
  if (!mtiEl || !bitmapEl) throw new SwitchError('SW_ERR_JPOS_IMPORT', { file, reason: 'fields 0 (MTI) and 1 (bitmap) are required' });
  const mti = jposClass(mtiEl.attrs['class'] ?? '');
  if (!mti || mti.kind !== 'numeric' || mti.prefix !== 'fixed' || mtiEl.attrs['length'] !== '4') {
    throw new SwitchError('SW_ERR_JPOS_UNKNOWN_PACKAGER', {
      file,
      field: '0',
      packager: `${mtiEl.attrs['class'] ?? '(no class)'} (the MTI is 4 fixed digits)`,
    });
  }
  const bm = jposClass(bitmapEl.attrs['class'] ?? '');
  if (!bm || bm.kind !== 'bitmap')
    throw new SwitchError('SW_ERR_JPOS_UNKNOWN_PACKAGER', { file, field: '1', packager: bitmapEl.attrs['class'] ?? '(no class)' });
  const bitmapBytes = Number(bitmapEl.attrs['length']);
  const maxFields = bitmapBytes * 8;
  if (maxFields !== 64 && maxFields !== 128 && maxFields !== 192)
    throw new SwitchError('SW_ERR_JPOS_IMPORT', { file, reason: `a bitmap of ${bitmapEl.attrs['length'] ?? '?'} bytes (8, 16 or 24)` });
  const spec: DialectSpec = {
    name,
    description: `imported from jPOS GenericPackager ${file}`,
    mti: { encoding: mti.family === 'b' ? 'bcd' : mti.family === 'e' ? 'ebcdic' : 'ascii' },
    bitmap: { encoding: bm.family === 'a' ? 'hex' : bm.family === 'e' ? 'ebcdic-hex' : 'binary', maxFields: maxFields as 64 | 128 | 192 },
    maxMessageBytes: 65535,
    fields: {},
  };
  for (const [id, el] of [...byId.entries()].sort((a, b) => a[0] - b[0])) {
    // 0 MTI and 1 bitmap are the header; 65 is the tertiary bitmap bit (jPOS's "BITMAP, EXTENDED")
    if (id === 0 || id === 1 || id === 65 || id > maxFields) continue;
    spec.fields[String(id)] = fieldSpec(el, file);
  }
  return spec;
}
