/** Usage texts, printed on stderr for bad invocations and on stdout for --help. */

export const USAGE = `Usage: stagehand COMMAND [ARGS...]

A Perl-free activation engine for NixOS.

Commands:
  switch-to-configuration ACTION   switch|boot|test|dry-activate|check, as NixOS's
                                   switch-to-configuration (also run under that name)
  activate [--dry] [--json] [--graph FILE]... [--root DIR] SYSTEM
                                   run a generation's activation graph
  etc [--root DIR] [--dry] [--diff] ETC_STORE_PATH
                                   set up /etc from a generation's etc tree
  users [--root DIR] [--dry] SPEC.json
                                   create and update users and groups
  plan --graph FILE... [--json]    show the order and kind of each activation step
  plan OLD NEW [--json] [--explain] [--diff] [--active FILE]
                                   show what switching from OLD to NEW would do to units
  status [--json] [--run-dir DIR]  show units still running old code (restart debt)
  systemd list-units [--all] [PATTERN...] | show UNIT | start|stop|restart|reload UNIT... | daemon-reload
                                   query and drive systemd over D-Bus (diagnostics; jobs awaited)
  --help                           this text
  --version                        the version
`;

/** ng's usage, byte for byte (its `eprintln!` adds the last empty line). */
export const STC_USAGE = `Usage: switch-to-configuration [check|switch|boot|test|dry-activate]
check:        run pre-switch checks and exit
switch:       make the configuration the boot default and activate now
boot:         make the configuration the boot default
test:         activate the configuration, but don't make it the boot default
dry-activate: show what would be done if this configuration were activated
`;
