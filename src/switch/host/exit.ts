/**
 * How a switch ends early. ng exits with fixed codes (1, 2, 4, 100) and, where it calls Perl's
 * `die` semantics, with errno (EAGAIN for a held lock, ENOENT for "not NixOS"); callers map this
 * error to its message on stderr and its code as the exit status.
 */
export class SwitchExit extends Error {
  override name = "SwitchExit";
  /**
   * @param code exit status
   * @param lines printed on stderr before exiting (none for a silent exit)
   */
  constructor(readonly code: number, readonly lines: string[] = []) {
    super(lines.join("\n") || `exit ${code}`);
  }
}

/** Exit statuses shared with switch-to-configuration-ng. */
export const EXIT = {
  ok: 0,
  error: 1,
  /** `$OUT/activate` failed (the switch goes on, the status says so). */
  activationFailed: 2,
  /** ENOENT: ng's `die()` after failing to find /etc/NIXOS. */
  notNixos: 2,
  /** A job failed, a unit failed, a user activation failed. */
  unitsFailed: 4,
  /** EAGAIN: ng's `die()` after a non-blocking flock found the lock held. */
  locked: 11,
  /** The new init interface version differs: reboot needed. */
  interfaceMismatch: 100,
} as const;
