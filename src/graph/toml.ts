/**
 * TOML as graph files are read: @iarna/toml's parser, refusing every key that names a member of
 * Object.prototype (`constructor`, `toString`, `hasOwnProperty`, `__proto__`, …). The library finds
 * a table to extend with `target[key] || Table()`, which for such a key is the inherited builtin
 * (`Object`, `Object.prototype.hasOwnProperty`): the file's keys would be written onto the shared
 * builtins of the whole process. The keys are checked in the four methods that receive them, before
 * that lookup. And every other error of the parser is made its own at the current line: a date the
 * library's grammar accepts but the calendar has not (`1979-13-01`) is a TypeError thrown from
 * inside it, which would otherwise name no line.
 */

/** What the library's parser class offers (it ships no types). */
interface ParserBase {
  parse(text: string): void;
  finish(): Record<string, unknown>;
  error(err: Error): Error;
  recordAssignStatement(kv: { key: string[] }): unknown;
  parseTableMore(keyword: string): unknown;
  parseListMore(keyword: string): unknown;
  recordInlineTableValue(kv: { key: string[] }): unknown;
}

const TOMLParser = require("@iarna/toml/lib/toml-parser.js") as (new () => ParserBase) & { TomlError: new (message: string) => Error };
const prettyError = require("@iarna/toml/parse-pretty-error.js") as (err: Error, text: string) => Error;

/** A syntax error of a TOML text; `line` and `col` count from 0. */
export type TomlError = Error & { line?: number; col?: number; fromTOML: true };

/** Whether `e` is the parser's own error (its `line` is the text's, not the JavaScript source's). */
export function isTomlError(e: unknown): e is TomlError {
  return e instanceof TOMLParser.TomlError;
}

class GuardedParser extends TOMLParser {
  /** `e` as the parser's own error at the current line (a TypeError from a date's construction). */
  private own(e: unknown): unknown {
    return e instanceof Error && !isTomlError(e) ? this.error(new TOMLParser.TomlError(e.message)) : e;
  }
  override parse(text: string) {
    try {
      return super.parse(text);
    } catch (e) {
      throw this.own(e);
    }
  }
  override finish() {
    try {
      return super.finish();
    } catch (e) {
      throw this.own(e);
    }
  }
  /** Throws, at the current line, when a key is one of Object.prototype's members. */
  private refuse(keys: readonly string[]): void {
    for (const k of keys) {
      if (k in Object.prototype) throw this.error(new TOMLParser.TomlError(`The key '${k}' is not allowed (a built-in name of JavaScript objects)`));
    }
  }
  override recordAssignStatement(kv: { key: string[] }) {
    this.refuse(kv.key); // the dotted key, the final part included
    return super.recordAssignStatement(kv);
  }
  override parseTableMore(keyword: string) {
    this.refuse([keyword]);
    return super.parseTableMore(keyword);
  }
  override parseListMore(keyword: string) {
    this.refuse([keyword]);
    return super.parseListMore(keyword);
  }
  override recordInlineTableValue(kv: { key: string[] }) {
    this.refuse(kv.key);
    return super.recordInlineTableValue(kv);
  }
}

/**
 * Parses a TOML document, as the library's `parse` does (its errors pretty-printed the same way,
 * `… at row R, col C, pos P:` and the lines around), with Object.prototype's names refused as keys.
 */
export function parseTomlText(text: string): Record<string, unknown> {
  const parser = new GuardedParser();
  try {
    parser.parse(text);
    return parser.finish();
  } catch (e) {
    throw isTomlError(e) ? prettyError(e, text) : e;
  }
}
