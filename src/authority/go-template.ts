// The subset of Go's text/template (with the Sprig functions smallstep's documented templates use)
// that step-ca certificate templates are written in. No maintained JavaScript implementation fits
// (README "Certificate templates" says why), so this is a small parser and evaluator for exactly
// that subset: text, {{ pipeline }}, if/else if/else, range (with $i, $v :=), with, variables,
// comments and trim markers. Anything else fails at parse time naming the construct and its line.

export class TemplateSyntaxError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

/** A failure while running a template (a `fail` call, a wrong argument): the request's fault. */
export class TemplateRunError extends Error {}

type Arg =
  | { k: 'field'; base: 'dot' | 'var'; name?: string; fields: string[] }
  | { k: 'paren'; pipe: Pipe; fields: string[] }
  | { k: 'lit'; v: unknown }
  | { k: 'fn'; name: string };
type Cmd = Arg[];
interface Pipe { decl: string[]; cmds: Cmd[]; line: number }
type Node =
  | { t: 'text'; s: string }
  | { t: 'out'; pipe: Pipe }
  | { t: 'if' | 'with'; branches: { cond: Pipe; body: Node[] }[]; otherwise: Node[] | null }
  | { t: 'range'; pipe: Pipe; body: Node[]; otherwise: Node[] | null };

/** A Go value's dynamic type, for typeIs (e.g. "*rsa.PublicKey"). */
export const GO_TYPE = Symbol('goType');

// ---------- lexing ----------

interface Action { text: string; line: number }
type Piece = { text: string } | { action: Action };

function split(src: string): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  let line = 1;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open === -1 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open === -1) {
      out.push({ text });
      break;
    }
    const actionLine = line + (src.slice(i, open).match(/\n/g)?.length ?? 0);
    let start = open + 2;
    if (/^-[ \t\r\n]/.test(src.slice(start, start + 2))) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    out.push({ text });
    const close = findClose(src, start, actionLine);
    let end = close;
    if (/[ \t\r\n]-$/.test(src.slice(close - 2, close))) {
      trimNext = true;
      end = close - 1;
    }
    out.push({ action: { text: src.slice(start, end), line: actionLine } });
    line = actionLine + (src.slice(open, close + 2).match(/\n/g)?.length ?? 0);
    i = close + 2;
  }
  return out;
}

/** The index of the `}}` closing an action, skipping quoted strings and comments. */
function findClose(src: string, from: number, line: number): number {
  let i = from;
  while (i < src.length) {
    const c = src[i]!;
    if (src.startsWith('/*', i)) {
      const e = src.indexOf('*/', i + 2);
      if (e === -1) throw new TemplateSyntaxError(line, 'unclosed comment');
      i = e + 2;
    } else if (c === '"') {
      i++;
      while (i < src.length && src[i] !== '"') {
        if (src[i] === '\n') throw new TemplateSyntaxError(line, 'unterminated quoted string');
        i += src[i] === '\\' ? 2 : 1;
      }
      i++;
    } else if (c === '`') {
      const e = src.indexOf('`', i + 1);
      if (e === -1) throw new TemplateSyntaxError(line, 'unterminated raw string');
      i = e + 1;
    } else if (src.startsWith('}}', i)) {
      return i;
    } else {
      i++;
    }
  }
  throw new TemplateSyntaxError(line, 'unclosed action (no "}}")');
}

type Tok = { k: 'str' | 'num' | 'ident' | 'field' | 'var' | 'punct'; v: string };

function tokens(text: string, line: number): Tok[] {
  const out: Tok[] = [];
  const re = /\s+|("(?:[^"\\]|\\.)*")|(`[^`]*`)|(-?\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|((?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)|(\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(:=|[()|,=])/y;
  let i = 0;
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) throw new TemplateSyntaxError(line, `unexpected ${JSON.stringify(text.slice(i, i + 10))} in action`);
    i = re.lastIndex;
    if (m[1]) out.push({ k: 'str', v: JSON.parse(m[1]) as string });
    else if (m[2]) out.push({ k: 'str', v: m[2].slice(1, -1) });
    else if (m[3]) out.push({ k: 'num', v: m[3] });
    else if (m[4]) out.push({ k: 'ident', v: m[4] });
    else if (m[5]) out.push({ k: 'field', v: m[5] });
    else if (m[6]) out.push({ k: 'var', v: m[6] });
    else if (m[7]) out.push({ k: 'punct', v: m[7] });
  }
  return out;
}

// ---------- parsing ----------

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with']);
const UNSUPPORTED = new Set(['define', 'template', 'block', 'break', 'continue']);

function parsePipe(toks: Tok[], line: number, funcs: FuncMap): Pipe {
  let pos = 0;
  const decl: string[] = [];
  // $x := … or $i, $v := …
  const declEnd = toks.findIndex((t) => t.k === 'punct' && (t.v === ':=' || t.v === '='));
  if (declEnd > 0) {
    if (toks[declEnd]!.v === '=') throw new TemplateSyntaxError(line, 'assignment to an existing variable ("=") is not supported');
    for (const t of toks.slice(0, declEnd)) {
      if (t.k === 'var' && !t.v.includes('.')) decl.push(t.v);
      else if (!(t.k === 'punct' && t.v === ',')) throw new TemplateSyntaxError(line, 'bad variable declaration');
    }
    pos = declEnd + 1;
  }
  const cmds: Cmd[] = [];
  let cmd: Cmd = [];
  const parseArg = (): Arg => {
    const t = toks[pos++]!;
    if (t.k === 'str') return { k: 'lit', v: t.v };
    if (t.k === 'num') return { k: 'lit', v: Number(t.v) };
    if (t.k === 'field') return { k: 'field', base: 'dot', fields: t.v === '.' ? [] : t.v.slice(1).split('.') };
    if (t.k === 'var') {
      const [name, ...fields] = t.v.split('.');
      return { k: 'field', base: 'var', name, fields };
    }
    if (t.k === 'ident') {
      if (t.v === 'true' || t.v === 'false') return { k: 'lit', v: t.v === 'true' };
      if (t.v === 'nil') return { k: 'lit', v: null };
      if (UNSUPPORTED.has(t.v) || KEYWORDS.has(t.v)) throw new TemplateSyntaxError(line, `"${t.v}" is not supported in this position`);
      if (!Object.hasOwn(funcs, t.v)) throw new TemplateSyntaxError(line, `function "${t.v}" not defined (not in the supported subset)`);
      return { k: 'fn', name: t.v };
    }
    if (t.k === 'punct' && t.v === '(') {
      let depth = 1;
      const start = pos;
      while (pos < toks.length && depth > 0) {
        const u = toks[pos++]!;
        if (u.k === 'punct' && u.v === '(') depth++;
        if (u.k === 'punct' && u.v === ')') depth--;
      }
      if (depth !== 0) throw new TemplateSyntaxError(line, 'unclosed "("');
      const inner = parsePipe(toks.slice(start, pos - 1), line, funcs);
      let fields: string[] = [];
      const next = toks[pos];
      if (next?.k === 'field' && next.v !== '.') {
        fields = next.v.slice(1).split('.');
        pos++;
      }
      return { k: 'paren', pipe: inner, fields };
    }
    throw new TemplateSyntaxError(line, `unexpected "${t.v}"`);
  };
  while (pos < toks.length) {
    const t = toks[pos]!;
    if (t.k === 'punct' && t.v === '|') {
      if (!cmd.length) throw new TemplateSyntaxError(line, 'missing command before "|"');
      cmds.push(cmd);
      cmd = [];
      pos++;
      continue;
    }
    cmd.push(parseArg());
  }
  if (!cmd.length) throw new TemplateSyntaxError(line, 'missing value');
  cmds.push(cmd);
  for (const [i, c] of cmds.entries()) {
    if (c[0]!.k !== 'fn' && c.length > 1) throw new TemplateSyntaxError(line, `can't give argument to non-function ${describe(c[0]!)}`);
    if (i > 0 && c[0]!.k !== 'fn') throw new TemplateSyntaxError(line, `non-function ${describe(c[0]!)} in pipeline`);
  }
  return { decl, cmds, line };
}

const describe = (a: Arg) => (a.k === 'field' ? (a.base === 'dot' ? `.${a.fields.join('.')}` : `${a.name}.${a.fields.join('.')}`) : a.k === 'lit' ? JSON.stringify(a.v) : a.k);

type Frame = { kind: 'if' | 'with' | 'range' | 'root'; node?: Node & { t: 'if' | 'with' | 'range' }; body: Node[]; line: number };

function parse(src: string, funcs: FuncMap): Node[] {
  const root: Frame = { kind: 'root', body: [], line: 1 };
  const stack: Frame[] = [root];
  const top = () => stack[stack.length - 1]!;
  for (const piece of split(src)) {
    if ('text' in piece) {
      if (piece.text) top().body.push({ t: 'text', s: piece.text });
      continue;
    }
    const { text, line } = piece.action;
    const trimmed = text.trim();
    if (trimmed.startsWith('/*')) {
      if (!trimmed.endsWith('*/')) throw new TemplateSyntaxError(line, 'comment ends before closing delimiter');
      continue;
    }
    const toks = tokens(text, line);
    if (!toks.length) throw new TemplateSyntaxError(line, 'missing value for command');
    const head = toks[0]!;
    const word = head.k === 'ident' ? head.v : '';
    if (UNSUPPORTED.has(word)) throw new TemplateSyntaxError(line, `"${word}" is not supported by Stepstone's template subset`);
    if (word === 'if' || word === 'with' || word === 'range') {
      const pipe = parsePipe(toks.slice(1), line, funcs);
      if (word === 'range') {
        const node: Node & { t: 'range' } = { t: 'range', pipe, body: [], otherwise: null };
        top().body.push(node);
        stack.push({ kind: word, node, body: node.body, line });
      } else {
        const node: Node & { t: 'if' | 'with' } = { t: word, branches: [{ cond: pipe, body: [] }], otherwise: null };
        top().body.push(node);
        stack.push({ kind: word, node, body: node.branches[0]!.body, line });
      }
    } else if (word === 'else') {
      const f = top();
      if (f.kind === 'root') throw new TemplateSyntaxError(line, 'unexpected {{else}}');
      const n = f.node!;
      if (toks.length > 1) {
        if (n.t === 'range' || !(toks[1]!.k === 'ident' && toks[1]!.v === n.t)) throw new TemplateSyntaxError(line, `"else ${toks[1]!.v}" is not supported here`);
        if (n.otherwise) throw new TemplateSyntaxError(line, 'else if after else');
        const branch = { cond: parsePipe(toks.slice(2), line, funcs), body: [] as Node[] };
        n.branches.push(branch);
        f.body = branch.body;
      } else {
        if (n.otherwise) throw new TemplateSyntaxError(line, 'more than one {{else}}');
        n.otherwise = [];
        f.body = n.otherwise;
      }
    } else if (word === 'end') {
      if (toks.length > 1) throw new TemplateSyntaxError(line, 'unexpected value after end');
      if (top().kind === 'root') throw new TemplateSyntaxError(line, 'unexpected {{end}}');
      stack.pop();
    } else {
      top().body.push({ t: 'out', pipe: parsePipe(toks, line, funcs) });
    }
  }
  if (stack.length > 1) throw new TemplateSyntaxError(top().line, `unclosed {{${top().kind}}} (no {{end}})`);
  return root.body;
}

// ---------- evaluation ----------

export type FuncMap = Record<string, (...args: unknown[]) => unknown>;

/** Go's truth: false, 0, nil, and empty strings, slices and maps are false. */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0 || GO_TYPE in v;
  return true;
}

function field(v: unknown, name: string): unknown {
  if (v === null || v === undefined || typeof v !== 'object') return undefined;
  return Object.prototype.hasOwnProperty.call(v, name) ? (v as Record<string, unknown>)[name] : undefined;
}

/** How {{ x }} prints a value: Go's fmt for the simple kinds, "<no value>" for a missing one. */
function print(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(print).join(' ')}]`;
  return JSON.stringify(v);
}

class Scope {
  private readonly vars: Map<string, unknown>[];
  constructor(root: unknown) {
    this.vars = [new Map([['$', root]])];
  }
  push(): void { this.vars.push(new Map()); }
  pop(): void { this.vars.pop(); }
  set(name: string, v: unknown): void { this.vars[this.vars.length - 1]!.set(name, v); }
  get(name: string, line: number): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.has(name)) return this.vars[i]!.get(name);
    throw new TemplateRunError(`line ${line}: undefined variable ${name}`);
  }
}

export class GoTemplate {
  private readonly nodes: Node[];

  /** Throws TemplateSyntaxError (with its line) for anything outside the supported subset. */
  constructor(src: string, private readonly funcs: FuncMap) {
    this.nodes = parse(src, funcs);
  }

  execute(data: unknown): string {
    const out: string[] = [];
    const scope = new Scope(data);
    this.run(this.nodes, data, scope, out);
    return out.join('');
  }

  private run(nodes: Node[], dot: unknown, scope: Scope, out: string[]): void {
    for (const n of nodes) {
      switch (n.t) {
        case 'text':
          out.push(n.s);
          break;
        case 'out': {
          const v = this.pipe(n.pipe, dot, scope);
          if (!n.pipe.decl.length) out.push(print(v));
          break;
        }
        case 'if':
        case 'with': {
          let done = false;
          for (const b of n.branches) {
            scope.push();
            const v = this.pipe(b.cond, dot, scope);
            if (truthy(v)) {
              this.run(b.body, n.t === 'with' ? v : dot, scope, out);
              done = true;
            }
            scope.pop();
            if (done) break;
          }
          if (!done && n.otherwise) this.run(n.otherwise, dot, scope, out);
          break;
        }
        case 'range': {
          scope.push();
          const v = this.pipe({ ...n.pipe, decl: [] }, dot, scope);
          const entries: [unknown, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x])
            : v && typeof v === 'object' ? Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]])
            : typeof v === 'number' ? Array.from({ length: v }, (_, i) => [i, i])
            : v === null || v === undefined ? []
            : (() => { throw new TemplateRunError(`line ${n.pipe.line}: range can't iterate over ${print(v)}`); })();
          if (!entries.length && n.otherwise) this.run(n.otherwise, dot, scope, out);
          for (const [k, x] of entries) {
            if (n.pipe.decl.length === 1) scope.set(n.pipe.decl[0]!, x);
            if (n.pipe.decl.length === 2) {
              scope.set(n.pipe.decl[0]!, k);
              scope.set(n.pipe.decl[1]!, x);
            }
            this.run(n.body, x, scope, out);
          }
          scope.pop();
          break;
        }
      }
    }
  }

  private pipe(p: Pipe, dot: unknown, scope: Scope): unknown {
    let v: unknown;
    let first = true;
    for (const c of p.cmds) {
      v = this.cmd(c, dot, scope, p.line, first ? undefined : { v });
      first = false;
    }
    if (p.decl.length) scope.set(p.decl[0]!, v);
    return v;
  }

  private cmd(c: Cmd, dot: unknown, scope: Scope, line: number, piped?: { v: unknown }): unknown {
    const head = c[0]!;
    if (head.k !== 'fn') return this.arg(head, dot, scope, line);
    const args = c.slice(1).map((a) => this.arg(a, dot, scope, line));
    if (piped) args.push(piped.v);
    try {
      return this.funcs[head.name]!(...args);
    } catch (e) {
      if (e instanceof TemplateRunError) throw new TemplateRunError(`line ${line}: ${head.name}: ${e.message}`);
      throw new TemplateRunError(`line ${line}: error calling ${head.name}: ${(e as Error).message}`);
    }
  }

  private arg(a: Arg, dot: unknown, scope: Scope, line: number): unknown {
    switch (a.k) {
      case 'lit':
        return a.v;
      case 'fn':
        return this.funcs[a.name]!();
      case 'field':
        return a.fields.reduce(field, a.base === 'dot' ? dot : scope.get(a.name!, line));
      case 'paren':
        return a.fields.reduce(field, this.pipe(a.pipe, dot, scope));
    }
  }
}
