/**
 * Error classes of the graph loader, in a module that imports no parser, so the CLI can recognise
 * them without loading the TOML parser.
 */
import { printable } from "../text/printable.ts";

/** A declaration that cannot be used, with the file and key (or line) at fault. */
export class DeclarationError extends Error {
  override name = "DeclarationError";
  constructor(readonly file: string, readonly where: string, message: string) {
    // `where` is built from the file's own keys: printed escaped, it cannot forge a line of output.
    super(`${file}: ${printable(where)}: ${message}`);
  }
}
