# No Perl in a system that uses stagehand: the perlless profile (whose closure check,
# system.forbiddenDependenciesRegexes = [ "perl" ], fails the build on any store path named perl),
# with stagehand instead of the /etc overlay and userborn the profile otherwise needs.
{ lib, ... }:
{
  name = "stagehand-perlless";

  nodes.machine =
    { pkgs, modulesPath, ... }:
    {
      imports = [ "${modulesPath}/profiles/perlless.nix" ];
      system.etc.overlay.enable = false;
      services.userborn.enable = false;
      # The store holds the system closure only, so `ls /nix/store` is the closure.
      virtualisation.mountHostNixStore = false;
      virtualisation.useNixStoreImage = true;
      specialisation.other.configuration.environment.etc."stagehand-other".text = "other\n";
    };

  testScript =
    { nodes, ... }:
    ''
      machine.wait_for_unit("multi-user.target")

      with subtest("no perl in the store"):
          perl_store_paths = machine.succeed("ls /nix/store | grep perl || true")
          print(perl_store_paths)
          assert len(perl_store_paths) == 0

      with subtest("the system switches without perl"):
          machine.succeed("${nodes.machine.system.build.toplevel}/specialisation/other/bin/switch-to-configuration test")
          machine.succeed("grep -q other /etc/stagehand-other")
          machine.succeed("${nodes.machine.system.build.toplevel}/bin/switch-to-configuration test")
          machine.fail("test -e /etc/stagehand-other")
    '';
}
