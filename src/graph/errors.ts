/**
 * Error classes of the graph loader, in a module with no imports so the CLI can recognise them
 * without loading the TOML parser.
 */

/** A declaration that cannot be used, with the file and key (or line) at fault. */
export class DeclarationError extends Error {
  override name = "DeclarationError";
  constructor(readonly file: string, readonly where: string, message: string) {
    super(`${file}: ${where}: ${message}`);
  }
}
