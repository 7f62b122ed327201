# Users and groups by stagehand's users step (which replaces update-users-groups.pl), with
# mutable users (changes made on the machine survive a switch) and immutable users (the
# configuration is the whole truth).
{ lib, pkgs, ... }:
let
  # A sha512crypt hash; the test only compares it as text.
  hash = "$6$RUmbAqfB6dyFNSUY$vYWMDRoWoe5L/QvcEnZsEzNlHMG1gVAMpdxiFLTdkmanbwGsANRNv9EvFHWdnSDu/uHN5uy5gcJdBd3Lj7jSA1";
  alice = {
    isNormalUser = true;
    description = "Alice";
    extraGroups = [ "wheel" ];
  };
  withBob = {
    users.users.bob = {
      isNormalUser = true;
      uid = 1500;
    };
    users.groups.band.members = [ "bob" ];
  };
in
{
  name = "stagehand-users";

  nodes = {
    mutable = {
      users.mutableUsers = true;
      users.users.alice = alice // {
        initialPassword = "foobar";
      };
      specialisation.withBob.configuration = withBob;
    };

    immutable = {
      users.mutableUsers = false;
      users.users.alice = alice // {
        hashedPassword = hash;
      };
      specialisation.withBob.configuration = withBob;
    };
  };

  testScript =
    { nodes, ... }:
    let
      switch = node: spec: action:
        let
          top = nodes.${node}.system.build.toplevel;
        in
        if spec == "" then
          "${top}/bin/switch-to-configuration ${action} 2>&1"
        else
          "${top}/specialisation/${spec}/bin/switch-to-configuration ${action} 2>&1";
    in
    ''
      def assert_contains(haystack, needle):
          if needle not in haystack:
              print("---\n" + haystack + "---")
              raise Exception(f"Expected string '{needle}' was not found")

      start_all()
      for m in [mutable, immutable]:
          m.wait_for_unit("multi-user.target")

      with subtest("declared users, groups and homes exist after boot"):
          for m in [mutable, immutable]:
              m.succeed("getent passwd alice | grep -q ':Alice:/home/alice:'")
              m.succeed("id -nG alice | grep -qw wheel")
              assert m.succeed("stat -c '%U %a' /home/alice").strip() == "alice 700"
              m.succeed("test -d /root && test \"$(stat -c %a /root)\" = 700")
              m.succeed("grep -q '^alice:' /etc/shadow")
              # The files are regular files written by stagehand, not links into the store.
              m.succeed("test ! -L /etc/passwd && test ! -L /etc/shadow")
              assert m.succeed("stat -c %a /etc/shadow").strip() == "640"

      with subtest("dry-activate shows the plan and changes nothing"):
          for m, dry in [(mutable, "${switch "mutable" "withBob" "dry-activate"}"),
                         (immutable, "${switch "immutable" "withBob" "dry-activate"}")]:
              print(m.succeed(dry))
              m.fail("getent passwd bob")
              m.fail("getent group band")

      with subtest("mutable: a new user is added, local changes are kept"):
          mutable.succeed("echo 'alice:changed-on-the-machine' | chpasswd")
          before = mutable.succeed("grep '^alice:' /etc/shadow")
          mutable.succeed("useradd -m localuser")
          mutable.succeed("${switch "mutable" "withBob" "test"}")
          assert mutable.succeed("id -u bob").strip() == "1500"
          mutable.succeed("getent group band | grep -q bob")
          assert mutable.succeed("grep '^alice:' /etc/shadow") == before, "alice's password was kept"
          mutable.succeed("getent passwd localuser")
          # Switching back removes bob (declared users only), keeps the local user.
          mutable.succeed("${switch "mutable" "" "test"}")
          mutable.fail("getent passwd bob")
          mutable.succeed("getent passwd localuser")

      with subtest("immutable: the configuration is the whole truth"):
          immutable.succeed("echo 'alice:changed-on-the-machine' | chpasswd")
          immutable.succeed("useradd localuser")
          # Dry: the message update-users-groups.pl printed, and nothing removed yet.
          out = immutable.succeed("${switch "immutable" "" "dry-activate"}")
          assert_contains(out, "would remove user ‘localuser’")
          immutable.succeed("getent passwd localuser")
          immutable.succeed("${switch "immutable" "withBob" "test"}")
          assert immutable.succeed("id -u bob").strip() == "1500"
          immutable.succeed("grep -qF 'alice:${hash}:' /etc/shadow")
          immutable.fail("getent passwd localuser")
          immutable.succeed("${switch "immutable" "" "test"}")
          immutable.fail("getent passwd bob")

      with subtest("uids are stable: bob comes back with his uid"):
          mutable.succeed("${switch "mutable" "withBob" "test"}")
          assert mutable.succeed("id -u bob").strip() == "1500"
    '';
}
