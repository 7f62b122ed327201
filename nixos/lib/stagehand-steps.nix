# What stagehand changes in NixOS's activation snippets, shared by module.nix and the unit tests:
# `users` and `etc` become builtin steps (same names, same deps), and the two directories the Perl
# `users` snippet created first become their own step, ordered right before `users`.
# Builtins only (no nixpkgs), so the unit tests evaluate it with nix-instantiate.
{
  # The generation's etc tree (`config.system.build.etc` + "/etc"), or null to keep the snippet.
  etc ? null,
  # The users-groups.json store path update-users-groups.pl read, or null to keep the snippet.
  usersSpec ? null,
}:
{
  builtinSteps =
    (
      if etc == null then
        { }
      else
        {
          etc = {
            builtin = "etc";
            options = { inherit etc; };
            supportsDryActivation = true;
            description = "link /etc to the generation's etc tree (replaces setup-etc.pl)";
          };
        }
    )
    // (
      if usersSpec == null then
        { }
      else
        {
          users = {
            builtin = "users";
            options.spec = usersSpec;
            supportsDryActivation = true;
            description = "create and update users and groups (replaces update-users-groups.pl)";
          };
        }
    );

  # The Perl `users` snippet began with these two commands; `before` puts them after users' own
  # deps and right before `users`, where they ran, without changing any other snippet's position.
  extraSteps =
    if usersSpec == null then
      { }
    else
      {
        users-homes = {
          kind = "shell";
          text = ''
            install -m 0700 -d /root
            install -m 0755 -d /home
          '';
          before = [ "users" ];
          after = [ ];
          supportsDryActivation = false;
          description = "the root and /home directories (first lines of NixOS's users snippet)";
        };
      };
}
