# The NixOS VM tests of stagehand, in the nixosTest form.
#
#   nix-build nixos/tests -A switch            # or initrd-etc, users, perlless
#   nix-build nixos/tests                      # all of them
#   nix-build nixos/tests -A switch.driverInteractive && ./result/bin/nixos-test-driver
#
# `pkgs` defaults to <nixpkgs>; pass `--arg pkgs 'import /path/to/nixpkgs { }'` to pin it.
{
  pkgs ? import <nixpkgs> { },
  stagehand ? pkgs.callPackage ../package.nix { },
}:
let
  runTest =
    test:
    pkgs.testers.runNixOSTest {
      imports = [ test ];
      defaults = {
        imports = [ ../module.nix ];
        system.stagehand = {
          enable = true;
          package = stagehand;
        };
      };
    };
in
{
  switch = runTest ./switch.nix;
  initrd-etc = runTest ./initrd-etc.nix;
  users = runTest ./users.nix;
  perlless = runTest ./perlless.nix;
}
