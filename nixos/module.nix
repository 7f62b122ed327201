# stagehand on NixOS: `system.stagehand.enable = true;` makes stagehand the system's activation engine.
#
#   - $toplevel/bin/switch-to-configuration is stagehand, wrapped with the environment
#     switch-to-configuration-ng's wrapper sets, so nixos-rebuild (and nixos-rebuild-ng) work unchanged;
#   - $toplevel/activation-graph.toml is `system.activationScripts` rendered as stagehand's graph
#     (same names, `deps` as `after`, `supportsDryActivation` kept), with the `users` and `etc`
#     snippets replaced by stagehand's builtin steps, so update-users-groups.pl and setup-etc.pl
#     (and Perl) leave the system closure;
#   - $toplevel/activate and $toplevel/dry-activate run `stagehand activate` over that graph;
#   - with the systemd initrd, /etc is set up in /sysroot before switch-root by stagehand run from
#     the generation initrd-find-nixos-closure.service found (chrooted), so the initrd does not
#     carry the binary.
#
# stagehand gives a Perl-free system NixOS's default semantics (a symlink /etc, mutable users). The
# perlless profile asks for the etc overlay and userborn with mkDefault; with stagehand enabled both
# default to off instead (see docs/nixos.md). Turned on explicitly, stagehand gives way: with the
# overlay it leaves NixOS's `etc` snippet (which remounts the overlay) and the initrd alone, with
# userborn or systemd-sysusers it leaves users and groups to them.
{
  config,
  lib,
  pkgs,
  utils,
  options,
  modulesPath,
  ...
}:
let
  cfg = config.system.stagehand;
  stagehand = lib.getExe' cfg.package "stagehand";

  # Whether stagehand's builtin steps replace NixOS's `etc` and `users` snippets: not when /etc is
  # the overlay, nor when userborn or systemd-sysusers own the user database (NixOS then leaves the
  # `users` snippet empty).
  userborn = config.services ? userborn && config.services.userborn.enable;
  managesEtc = !config.system.etc.overlay.enable;
  managesUsers = !config.systemd.sysusers.enable && !userborn;

  # The users and groups as users-groups.nix hands them to update-users-groups.pl: the users
  # builtin reads the same JSON. That module keeps it in a `let`, so it is rebuilt here, field for field.
  usersCfg = config.users;
  usersSpec = pkgs.writeText "users-groups.json" (
    builtins.toJSON {
      inherit (usersCfg) mutableUsers;
      users = lib.mapAttrsToList (_: u: {
        inherit (u)
          name
          uid
          group
          description
          home
          homeMode
          createHome
          isSystemUser
          password
          hashedPasswordFile
          hashedPassword
          autoSubUidGidRange
          subUidRanges
          subGidRanges
          initialPassword
          initialHashedPassword
          expires
          ;
        shell = utils.toShellPath u.shell;
      }) (lib.filterAttrs (_: u: u.enable) usersCfg.users);
      groups = lib.attrValues usersCfg.groups;
    }
  );

  stagehandSteps = import ./lib/stagehand-steps.nix {
    etc = if managesEtc then "${config.system.build.etc}/etc" else null;
    usersSpec = if managesUsers then "${usersSpec}" else null;
  };

  # What every NixOS snippet runs with: the interpreter, PATH and helper library of
  # activation-script.nix.
  activationLib = modulesPath + "/system/activation/lib/lib.sh";
  activationPath = map lib.getBin [
    pkgs.coreutils
    pkgs.gnugrep
    pkgs.findutils
    pkgs.getent
    pkgs.stdenv.cc.libc
    pkgs.shadow
    pkgs.util-linux
  ];

  graph = import ./lib/activation-graph.nix {
    activationScripts = builtins.removeAttrs config.system.activationScripts [ "script" ];
    inherit (stagehandSteps) builtinSteps extraSteps;
    shell = {
      interpreter = pkgs.runtimeShell;
      path = map toString activationPath;
      preamble = lib.optionalString (builtins.pathExists activationLib) "source ${activationLib}";
    };
  };

  graphFile = (pkgs.formats.toml { }).generate "activation-graph.toml" graph;

  # ng's wrapper environment (switchable-system.nix), variable for variable. `toplevel` is the
  # generation: `$out` in the toplevel itself, `$toplevel` in separateActivationScript.
  wrapperFlags =
    toplevel:
    lib.concatStringsSep " \\\n    " (
      [
        "--set OUT $out"
        "--set TOPLEVEL ${toplevel}"
        "--set DISTRO_ID ${lib.escapeShellArg config.system.nixos.distroId}"
        "--set INSTALL_BOOTLOADER ${lib.escapeShellArg config.system.build.installBootLoader}"
      ]
      ++ lib.optional (
        config.system ? preSwitchChecksScript
      ) "--set PRE_SWITCH_CHECK ${lib.escapeShellArg config.system.preSwitchChecksScript}"
      ++ lib.optional (
        config.i18n.glibcLocales != null
      ) "--set LOCALE_ARCHIVE ${config.i18n.glibcLocales}/lib/locale/locale-archive"
      ++ [ "--set SYSTEMD ${config.systemd.package}" ]
    );

  activatable = config.system.activatable or true;

  # The activation graph, `activate`, `dry-activate` and `bin/switch-to-configuration` in $out.
  # In the toplevel this runs after NixOS wrote its own scripts and replaces them, so the Perl
  # they referenced is no longer referenced by the generation.
  activationCommands = toplevel: ''
    # stagehand: the activation graph and the scripts that run it.
    cp ${graphFile} $out/activation-graph.toml
    rm -f $out/activate $out/dry-activate
    printf '%s\n' '#!${pkgs.runtimeShell}' \
      "# NixOS activation by stagehand: the steps and their order are in $out/activation-graph.toml" \
      "exec ${stagehand} activate --graph $out/activation-graph.toml ${toplevel}" > $out/activate
    printf '%s\n' '#!${pkgs.runtimeShell}' \
      "exec ${stagehand} activate --dry --graph $out/activation-graph.toml ${toplevel}" > $out/dry-activate
    chmod 0555 $out/activate $out/dry-activate
  ''
  + lib.optionalString config.system.switch.enable ''
    (
      source ${pkgs.buildPackages.makeWrapper}/nix-support/setup-hook
      mkdir -p $out/bin
      rm -f $out/bin/switch-to-configuration $out/bin/.switch-to-configuration-wrapped
      # stagehand dispatches on the invoked name: `--argv0` keeps it whatever name or link the
      # wrapper is called by (makeWrapper's default passes the caller's $0 on).
      makeWrapper ${lib.getExe' cfg.package "switch-to-configuration"} $out/bin/switch-to-configuration \
        --argv0 switch-to-configuration \
        ${wrapperFlags toplevel}
    )
  '';

  builderCommands =
    lib.optionalString cfg.initrdEtc ''
      # What the initrd's stagehand-etc.service runs, from the mounted system closure.
      ln -s ${stagehand} $out/stagehand
    ''
    + lib.optionalString activatable (activationCommands "$out");

  # The initrd side: the generation to boot is the one initrd-find-nixos-closure.service found (from
  # init=, or however a netboot or ISO image overrides that service) and linked at /nixos-closure,
  # already resolved inside /sysroot, as initrd-nixos-activation.service reads it. stagehand runs
  # from that generation inside /sysroot, with /proc and /dev mounted in the service's private
  # mount namespace (the bun runtime reads /proc/self/exe).
  initrdEtcScript = ''
    set -euo pipefail
    export PATH="/bin:${config.boot.initrd.systemd.package.util-linux}/bin"
    closure="$(readlink /nixos-closure)"
    # The generation's links point into the store by absolute paths: read them, do not follow them
    # from the initrd's root.
    binary="$(readlink "/sysroot$closure/stagehand" || true)"
    if [ -z "$binary" ] || [ ! -x "/sysroot$binary" ]; then
      echo "$closure is not a generation with stagehand; /etc is left to its activation" >&2
      exit 0
    fi
    etc="$(readlink "/sysroot$closure/etc")"
    mkdir -p /sysroot/proc /sysroot/dev
    mount -t proc proc /sysroot/proc
    mount --rbind /dev /sysroot/dev
    # Inside the chroot /sysroot is /: this is `stagehand etc --root /sysroot` without the binary in the initrd.
    exec chroot /sysroot "$closure/stagehand" etc "$etc"
  '';
in
{
  options.system.stagehand = {
    enable = lib.mkEnableOption ''
      stagehand as the activation engine: switch-to-configuration, the activation script, /etc and
      users and groups, without Perl'';

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage <stagehand/nixos/package.nix> { }";
      description = "The stagehand package (its `bin/stagehand` and `bin/switch-to-configuration`).";
    };

    initrdEtc = lib.mkOption {
      type = lib.types.bool;
      default = config.boot.initrd.systemd.enable && managesEtc;
      defaultText = lib.literalExpression "config.boot.initrd.systemd.enable && !config.system.etc.overlay.enable";
      description = ''
        Whether the systemd initrd sets up /etc in /sysroot with `stagehand etc` before switch-root,
        running stagehand from the system closure (chrooted into /sysroot), so /etc is complete
        before the generation's activation and its first service. Adds a unit and a short script
        to the initrd, not the binary.
      '';
    };

    graph = lib.mkOption {
      type = lib.types.package;
      readOnly = true;
      default = graphFile;
      defaultText = lib.literalMD "the rendered activation graph";
      description = "The activation graph file, also at {file}`$toplevel/activation-graph.toml`.";
    };

    usersSpec = lib.mkOption {
      type = lib.types.package;
      readOnly = true;
      internal = true;
      default = usersSpec;
      defaultText = lib.literalMD "users-groups.json built from `users.users` and `users.groups`";
      description = "The users and groups the `users` step applies (update-users-groups.pl's JSON).";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = [
          {
            assertion =
              (managesUsers -> config.system.activationScripts ? users)
              && (managesEtc -> config.system.activationScripts ? etc);
            message = "system.stagehand.enable needs NixOS's `users` and `etc` activation snippets, which it replaces.";
          }
          {
            assertion = cfg.initrdEtc -> managesEtc;
            message = ''
              system.stagehand.initrdEtc cannot be combined with system.etc.overlay.enable: the initrd
              mounts the overlay as /etc, there is no symlink tree for stagehand to set up.'';
          }
        ];

        # After NixOS's own commands (which write `activate`, `dry-activate` and ng's wrapper, all at
        # the default order), which these replace. `systemBuilderCommands` itself, not
        # `extraSystemBuilderCmds`: on nixpkgs master that name is an alias that drops mkAfter and
        # warns; on 25.11 both exist and `extraSystemBuilderCmds` (the closure checks) runs later.
        system.systemBuilderCommands = lib.mkAfter builderCommands;

        # For `system.activatable = false`: the same scripts, outside the toplevel.
        system.build.separateActivationScript = lib.mkForce (
          pkgs.runCommand "separate-activation-script" { toplevel = config.system.build.toplevel; } ''
            mkdir $out
            ${activationCommands "$toplevel"}
          ''
        );

        # NixOS's default semantics, which stagehand gives a system without Perl: a symlink /etc and
        # update-users-groups.pl's users. Stronger than the perlless profile's mkDefault, weaker than
        # a definition in the configuration (with which stagehand gives way, see managesEtc).
        system.etc.overlay.enable = lib.mkOverride 900 false;

        boot.initrd.systemd.services.stagehand-etc =
          lib.mkIf (cfg.initrdEtc && managesEtc && config.boot.initrd.enable && config.boot.initrd.systemd.enable)
            {
              description = "Set up /etc in /sysroot with stagehand";
              wantedBy = [ "initrd.target" ];
              before = [
                "initrd.target"
                "initrd-nixos-activation.service"
                "initrd-switch-root.target"
              ];
              # nixpkgs' service that decides which generation boots; without its /nixos-closure
              # (the service disabled, or not a NixOS generation) there is nothing to set up.
              after = [
                "initrd-fs.target"
                "initrd-find-nixos-closure.service"
              ];
              unitConfig = {
                DefaultDependencies = false;
                AssertPathExists = "/etc/initrd-release";
                ConditionPathIsSymbolicLink = "/nixos-closure";
                RequiresMountsFor = [
                  "/sysroot/nix/store"
                  "/sysroot/etc"
                ];
              };
              serviceConfig = {
                Type = "oneshot";
                # The /proc and /dev mounts for the chroot stay in the service's namespace.
                PrivateMounts = true;
              };
              script = initrdEtcScript;
            };
      }
      # userborn exists from nixpkgs 24.11 on.
      (lib.optionalAttrs (options ? services.userborn.enable) {
        services.userborn.enable = lib.mkOverride 900 false;
      })
    ]
  );
}
