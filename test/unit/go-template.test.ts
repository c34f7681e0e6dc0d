// The Go text/template subset certificate templates are written in: what each construct renders
// (checked against Go's documented behaviour), and that anything outside the subset fails at
// parse time naming the construct and its line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GO_TYPE, GoTemplate, TemplateRunError, TemplateSyntaxError } from '../../src/authority/go-template.ts';
import { GoSubject, TEMPLATE_FUNCS } from '../../src/authority/cert-template.ts';

const run = (src: string, data: unknown = {}) => new GoTemplate(src, TEMPLATE_FUNCS).execute(data);

test('text, fields, trim markers and comments', () => {
  assert.equal(run('a {{ .x }} b', { x: 1 }), 'a 1 b');
  assert.equal(run('a  \n {{- .x -}} \n  b', { x: 'X' }), 'aXb');
  assert.equal(run('{{/* a comment */}}x{{- /* trimmed */ -}} y'), 'xy');
  assert.equal(run('{{ .a.b.c }}', { a: { b: { c: 'deep' } } }), 'deep');
  assert.equal(run('{{ .missing }}', {}), '<no value>');
  assert.equal(run('{{ toJson .missing.deeper }}', {}), 'null');
  assert.equal(run('{{ . }}', 'dot'), 'dot');
  assert.equal(run('{{-3}}'), '-3');
  assert.equal(run('{{ "a\\"b" }}{{ `raw\\n` }}'), 'a"braw\\n');
});

test('if / else if / else, with, range, variables', () => {
  const t = '{{ if eq .n 1 }}one{{ else if eq .n 2 }}two{{ else }}many{{ end }}';
  assert.deepEqual([1, 2, 3].map((n) => run(t, { n })), ['one', 'two', 'many']);
  assert.equal(run('{{ if .list }}yes{{ else }}no{{ end }}', { list: [] }), 'no');
  assert.equal(run('{{ if .m }}yes{{ else }}no{{ end }}', { m: {} }), 'no');
  assert.equal(run('{{ with .u }}{{ .name }}{{ else }}anon{{ end }}', { u: { name: 'jo' } }), 'jo');
  assert.equal(run('{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ end }}', { l: ['a', 'b'] }), '0=a;1=b;');
  assert.equal(run('{{ range .l }}[{{ . }}]{{ else }}empty{{ end }}', { l: [] }), 'empty');
  assert.equal(run('{{ range $k, $v := .m }}{{ $k }}{{ $v }}{{ end }}', { m: { b: 2, a: 1 } }), 'a1b2');
  assert.equal(run('{{ $x := .a }}{{ range .l }}{{ $x }}{{ . }}{{ end }}{{ $.a }}', { a: 'A', l: [1, 2] }), 'A1A2A');
});

test('pipelines and the Sprig functions the documented templates use', () => {
  assert.equal(run('{{ toJson .Subject }}', { Subject: GoSubject.ofCommonName('web') }), '{"commonName":"web"}');
  assert.equal(run('{{ .Subject.CommonName }}', { Subject: GoSubject.ofCommonName('web') }), 'web');
  assert.equal(run('{{ printf "spiffe://td/%s" .sub | toJson }}', { sub: 'api' }), '"spiffe://td/api"');
  assert.equal(run('{{ .x | default "d" }}|{{ default "d" "set" }}', {}), 'd|set');
  assert.equal(run('{{ first .l }} {{ join "," .l }} {{ splitList "." "a.b" | last }}', { l: ['x', 'y'] }), 'x x,y b');
  assert.equal(run('{{ if typeIs "*rsa.PublicKey" .k }}rsa{{ else }}other{{ end }}', { k: { [GO_TYPE]: '*rsa.PublicKey' } }), 'rsa');
  assert.equal(run('{{ if typeIs "*rsa.PublicKey" .k }}rsa{{ else }}other{{ end }}', { k: { [GO_TYPE]: '*ecdsa.PublicKey' } }), 'other');
  assert.equal(run('{{ if and (hasSuffix ".internal" .n) (not (contains "admin" .n)) }}ok{{ end }}', { n: 'web.internal' }), 'ok');
  assert.equal(run('{{ lower "AbC" }}{{ upper "x" }}{{ trimSuffix ".com" "a.com" }}{{ len .l }}', { l: [1, 2, 3] }), 'abcXa3');
  assert.equal(run('{{ toJson ((concat .a (splitList " " .g)) | uniq) }}', { a: ['carl'], g: 'dba carl ops' }), '["carl","dba","ops"]');
  assert.equal(run('{{ toJson (compact (append .l "")) }} {{ hasKey .m "k" }} {{ toJson (keys .m) }} {{ ternary "y" "n" true }}', { l: ['a'], m: { k: 1, b: 2 } }), '["a"] true ["b","k"] y');
  assert.throws(() => run('{{ fail "no way" }}'), (e: unknown) => e instanceof TemplateRunError && /line 1: fail: no way/.test(e.message));
});

test('outside the subset: a syntax error names the construct and its line', () => {
  const cases: [string, RegExp][] = [
    ['{\n  "a": {{ toJsn .x }}\n}', /^line 2: function "toJsn" not defined/],
    ['{{ template "x" }}', /^line 1: "template" is not supported/],
    ['{{ define "x" }}{{ end }}', /^line 1: "define" is not supported/],
    ['a\nb\n{{ if .x }}', /^line 3: unclosed \{\{if\}\}/],
    ['{{ end }}', /^line 1: unexpected \{\{end\}\}/],
    ['\n\n{{ .x ', /^line 3: unclosed action/],
    ['{{ .a .b }}', /can't give argument to non-function \.a/],
    ['{{ .a | .b }}', /non-function \.b in pipeline/],
    ['{{ $x = 1 }}', /assignment to an existing variable/],
    ['{{ constructor }}', /function "constructor" not defined/],
    ['{{ 1 + 2 }}', /unexpected "\+ 2 "/],
  ];
  for (const [src, re] of cases) {
    assert.throws(() => new GoTemplate(src, TEMPLATE_FUNCS), (e: unknown) => e instanceof TemplateSyntaxError && re.test(e.message), src);
  }
});

test('step\'s ASN.1 functions, byte for byte', () => {
  const der = (src: string, data: unknown = {}) => Buffer.from(JSON.parse(run(`{{ ${src} | toJson }}`, data)), 'base64').toString('hex');
  assert.equal(der('asn1Enc "int:3848281"'), '02033ab859');
  assert.equal(der('asn1Enc "YubiKey"'), '1307597562694b6579');
  assert.equal(der('asn1Enc "oid:1.2.3.4"'), '06032a0304');
  assert.equal(der('asn1Enc "utf8:é"'), '0c02c3a9');
  assert.equal(der('asn1Enc "ia5:a@b"'), '1603614062');
  assert.equal(der('asn1Enc "bool:true"'), '0101ff');
  assert.equal(der('asn1Enc "utc:2023-03-29T02:03:57Z"'), '170d3233303332393032303335375a');
  assert.equal(der('asn1Enc "raw:BQA="'), '0500');
  assert.equal(der('asn1Seq (asn1Enc "YubiKey") (asn1Enc "int:123456")'), '300e1307597562694b6579020301e240');
  assert.equal(der('asn1Set (asn1Marshal (first .dns) "utf8") (asn1Enc "int:123456")', { dns: ['a'] }), '31080c0161020301e240');
  assert.equal(der('asn1Marshal .s', { s: 'plain' }), '1305706c61696e');
  assert.equal(der('asn1Marshal .s', { s: 'a*b' }), '0c03612a62');
  assert.equal(der('asn1Marshal .n', { n: 5 }), '020105');
  assert.throws(() => run('{{ asn1Enc "int:x" }}'), /invalid int value/);
  assert.throws(() => run('{{ asn1Enc "é" }}'), /invalid printable value/);
  assert.throws(() => run('{{ asn1Seq "notder" }}'), /is not one Base64 DER value/);
  assert.throws(() => run('{{ asn1Marshal "x" "explicit" }}'), /parameter "explicit" is not supported/);
});
