# With the systemd initrd, stagehand-etc.service sets up /etc in /sysroot before switch-root,
# running stagehand from the generation initrd-find-nixos-closure.service found (/nixos-closure):
# the initrd carries a unit and a short script, not the ~104 MiB binary.
{ lib, pkgs, ... }:
{
  name = "stagehand-initrd-etc";

  nodes.machine = {
    boot.initrd.systemd.enable = true;
    environment.etc."stagehand-test".text = "set up by stagehand\n";
    environment.etc."stagehand-copied" = {
      text = "a copy with a mode\n";
      mode = "0640";
    };
    environment.systemPackages = [
      pkgs.zstd
      pkgs.gzip
      pkgs.cpio
    ];
  };

  testScript =
    { nodes, ... }:
    ''
      machine.wait_for_unit("multi-user.target")

      with subtest("the initrd unit ran before switch-root and succeeded"):
          log = machine.succeed("journalctl -b -o cat -u stagehand-etc.service")
          print(log)
          assert "Finished" in log or "Deactivated successfully" in log, "stagehand-etc.service did not finish"
          machine.fail("journalctl -b -o cat -u stagehand-etc.service | grep -i 'failed'")
          # It ran in the initrd: ordered before the NixOS activation there.
          machine.succeed("journalctl -b -o short-monotonic | grep -q 'Set up /etc in /sysroot with stagehand'")

      with subtest("it set up the generation initrd-find-nixos-closure found, after that service"):
          journal = machine.succeed("journalctl -b -o cat").splitlines()
          found = next(i for i, l in enumerate(journal) if l.startswith("Finished") and "Find NixOS closure" in l)
          started = next(i for i, l in enumerate(journal) if l.startswith("Starting") and "Set up /etc in /sysroot with stagehand" in l)
          assert found < started, "stagehand-etc.service started before initrd-find-nixos-closure.service finished"

      with subtest("/etc is the generation's"):
          machine.succeed("test \"$(readlink -f /etc/static)\" = \"$(readlink -f /run/current-system/etc)\"")
          assert machine.succeed("cat /etc/stagehand-test") == "set up by stagehand\n"
          assert machine.succeed("stat -c %a /etc/stagehand-copied").strip() == "640"
          machine.succeed("test ! -L /etc/stagehand-copied")

      with subtest("the initrd does not carry the stagehand binary"):
          initrd = "${nodes.machine.system.build.initialRamdisk}/${nodes.machine.system.boot.loader.initrdFile}"
          listing = machine.succeed(f"{{ zstd -dc {initrd} 2>/dev/null || gzip -dc {initrd}; }} | cpio -t 2>/dev/null")
          assert "stagehand-etc.service" in listing, "the unit is in the initrd"
          # cpio lists paths without the leading slash: look for the store path's base name.
          assert "${baseNameOf nodes.machine.system.stagehand.package}" not in listing, "the binary is not in the initrd"
          size = machine.succeed(f"stat -L -c %s {initrd}").strip()
          binary = machine.succeed("stat -L -c %s /run/current-system/stagehand").strip()
          print(f"initrd: {size} bytes compressed; stagehand binary (not in it): {binary} bytes")

      with subtest("a second boot finds /etc already right"):
          machine.shutdown()
          machine.start()
          machine.wait_for_unit("multi-user.target")
          assert machine.succeed("cat /etc/stagehand-test") == "set up by stagehand\n"
    '';
}
