# No Perl in a system that uses stagehand: the perlless profile as it is (whose closure check,
# system.forbiddenDependenciesRegexes = [ "perl" ], fails the build on any store path named perl).
# The profile asks for the /etc overlay and userborn with mkDefault; stagehand turns both off by
# default, so the system keeps NixOS's default semantics (a symlink /etc, mutable users)
# without Perl. `overlay` is the same profile with the overlay and userborn chosen explicitly:
# stagehand gives way to them and still switches.
{ lib, ... }:
let
  common =
    { modulesPath, ... }:
    {
      imports = [ "${modulesPath}/profiles/perlless.nix" ];
      # The store holds the system closure only, so `ls /nix/store` is the closure.
      virtualisation.mountHostNixStore = false;
      virtualisation.useNixStoreImage = true;
      users.users.alice.isNormalUser = true;
      specialisation.other.configuration.environment.etc."stagehand-other".text = "other\n";
    };
in
{
  name = "stagehand-perlless";

  nodes = {
    machine = common;
    overlay = {
      imports = [ common ];
      system.etc.overlay.enable = true;
      services.userborn.enable = true;
    };
  };

  testScript =
    { nodes, ... }:
    ''
      def switch_both(m, toplevel):
          m.succeed(f"{toplevel}/specialisation/other/bin/switch-to-configuration test")
          m.succeed("grep -q other /etc/stagehand-other")
          m.succeed(f"{toplevel}/bin/switch-to-configuration test")
          m.fail("test -e /etc/stagehand-other")

      start_all()
      machine.wait_for_unit("multi-user.target")
      overlay.wait_for_unit("multi-user.target")

      with subtest("no perl in either store"):
          for m in [machine, overlay]:
              perl_store_paths = m.succeed("ls /nix/store | grep perl || true")
              print(perl_store_paths)
              assert len(perl_store_paths) == 0

      with subtest("the profile with stagehand: a symlink /etc set up in the initrd, users by stagehand"):
          machine.fail("findmnt /etc")
          machine.succeed("test \"$(readlink -f /etc/static)\" = \"$(readlink -f /run/current-system/etc)\"")
          machine.succeed("journalctl -b -o short-monotonic | grep -q 'Set up /etc in /sysroot with stagehand'")
          machine.succeed("systemctl show -p ActiveState userborn.service | grep -q =inactive")
          machine.succeed("id alice")
          # Mutable users: an account made on the machine survives a switch.
          machine.succeed("useradd --system carol")

      with subtest("the system switches without perl"):
          switch_both(machine, "${nodes.machine.system.build.toplevel}")
          machine.succeed("id carol")

      with subtest("overlay and userborn chosen explicitly: stagehand gives way, and still switches"):
          overlay.succeed("findmnt --types overlay /etc")
          overlay.fail("journalctl -b -o short-monotonic | grep -q 'Set up /etc in /sysroot with stagehand'")
          overlay.succeed("id alice")
          switch_both(overlay, "${nodes.overlay.system.build.toplevel}")
    '';
}
