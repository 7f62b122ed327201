# switch-to-configuration by stagehand, checked the way nixpkgs' nixos/tests/switch-test.nix checks
# ng: the same specialisations and the exact lines the switch prints. A subset of its subtests is
# ported (see the README: pre-switch checks, actions, init interface version, systemd restarts,
# an aborted switch, the lock, services, failing units, restart and reload by the activation
# script), plus what is stagehand's own: the activation graph and the Perl-free generation.
{ lib, pkgs, ... }:
let
  oneshot = {
    Type = "oneshot";
    RemainAfterExit = true;
    ExecStart = "${pkgs.coreutils}/bin/true";
    ExecReload = "${pkgs.coreutils}/bin/true";
  };
in
{
  name = "stagehand-switch";

  nodes = {
    machine = {
      users.mutableUsers = false;
      # No boot loader: switching must still work (as on the ISO).
      boot.loader.grub.enable = false;

      specialisation = rec {
        # Not extraSystemBuilderCmds: on nixpkgs master that is a renamed alias, which warns.
        brokenInitInterface.configuration.system.systemBuilderCommands = ''
          echo "systemd 0" > $out/init-interface-version
        '';

        modifiedSystemConf.configuration.systemd.settings.Manager.DefaultEnvironment = "XXX_SYSTEM=foo";

        simpleService.configuration.systemd.services.test = {
          wantedBy = [ "multi-user.target" ];
          serviceConfig = oneshot;
        };

        simpleServiceDifferentDescription.configuration = {
          imports = [ simpleService.configuration ];
          systemd.services.test.description = "Test unit";
        };

        simpleServiceModified.configuration = {
          imports = [ simpleService.configuration ];
          systemd.services.test.serviceConfig.X-Test = true;
        };

        simpleServiceNostop.configuration = {
          imports = [ simpleService.configuration ];
          systemd.services.test.stopIfChanged = false;
        };

        simpleServiceReload.configuration = {
          imports = [ simpleService.configuration ];
          systemd.services.test.reloadIfChanged = true;
        };

        simpleServiceNorestart.configuration = {
          imports = [ simpleService.configuration ];
          systemd.services.test.restartIfChanged = false;
        };

        simpleServiceFailing.configuration = {
          imports = [ simpleServiceModified.configuration ];
          systemd.services.test.serviceConfig.ExecStart = lib.mkForce "${pkgs.coreutils}/bin/false";
        };

        # Units the activation script asks to restart or reload (through the lists in /run/nixos);
        # none is wanted by a target but reload-triggers, so only the lists start them.
        restartAndReloadByActivationScript.configuration = {
          systemd.services = {
            simple-service.serviceConfig = oneshot;
            simple-restart-service = {
              serviceConfig = oneshot;
              stopIfChanged = false;
            };
            simple-reload-service = {
              serviceConfig = oneshot;
              reloadIfChanged = true;
            };
            no-restart-service = {
              serviceConfig = oneshot;
              restartIfChanged = false;
            };
            reload-triggers = {
              serviceConfig = oneshot;
              wantedBy = [ "multi-user.target" ];
            };
          };
          system.activationScripts.restart-and-reload-test = {
            supportsDryActivation = true;
            deps = [ ];
            text = ''
              if [ "$NIXOS_ACTION" = dry-activate ]; then
                f=/run/nixos/dry-activation-restart-list
                g=/run/nixos/dry-activation-reload-list
              else
                f=/run/nixos/activation-restart-list
                g=/run/nixos/activation-reload-list
              fi
              printf '%s\n' simple-service.service simple-restart-service.service \
                simple-reload-service.service no-restart-service.service >> "$f"
              printf '%s\n' reload-triggers.service >> "$g"
            '';
          };
        };

        # A snippet that must run after the builtin etc step (its deps) and in dry-activate.
        snippetAfterEtc.configuration.system.activationScripts.after-etc = {
          deps = [ "etc" ];
          supportsDryActivation = true;
          text = ''
            if [ "$NIXOS_ACTION" = dry-activate ]; then
              echo "after-etc dry: $(readlink /etc/static)"
            else
              test -L /etc/static && echo "after-etc: /etc is in place"
            fi
          '';
        };
      };
    };

    other = {
      users.mutableUsers = true;
      system.preSwitchChecks.succeeds = ''
        config="$1"
        action="$2"
        echo "this should succeed (config: $config, action: $action)"
        [ "$action" == "check" ] || [ "$action" == "test" ]
      '';
      specialisation.failingCheck.configuration.system.preSwitchChecks.failEveryTime = ''
        echo this will fail
        false
      '';
    };
  };

  testScript =
    { nodes, ... }:
    let
      machine = nodes.machine.system.build.toplevel;
      otherSystem = nodes.other.system.build.toplevel;
      # The switch's status must not hide behind tee's.
      stderrRunner = pkgs.writeScript "stderr-runner" ''
        #! ${pkgs.runtimeShell}
        set -eo pipefail
        exec env -i "$@" | tee /dev/stderr
      '';
      sortedUnits = xs: lib.concatStringsSep ", " (builtins.sort builtins.lessThan xs);
      dbusService =
        {
          "dbus" = "dbus.service";
          "broker" = "dbus-broker.service";
        }
        .${nodes.machine.services.dbus.implementation};
    in
    ''
      def switch_to_specialisation(system, name, action="test", fail=False):
          switcher = f"{system}/bin/switch-to-configuration" if name == "" \
              else f"{system}/specialisation/{name}/bin/switch-to-configuration"
          out = machine.fail(f"{switcher} {action} 2>&1") if fail \
              else machine.succeed(f"{switcher} {action} 2>&1")
          return out

      def assert_contains(haystack, needle):
          if needle not in haystack:
              print("---\n" + haystack + "---")
              raise Exception(f"Expected string '{needle}' was not found")

      def assert_lacks(haystack, needle):
          if needle in haystack:
              print("---\n" + haystack + "---")
              raise Exception(f"Unexpected string '{needle}' was found")

      def assert_quiet(out):
          for line in ["stopping the following units:", "NOT restarting the following changed units:",
                       "reloading the following units:", "\nrestarting the following units:",
                       "\nstarting the following units:", "the following new units were started:"]:
              assert_lacks(out, line)

      machine.wait_for_unit("multi-user.target")

      with subtest("the generation is stagehand's"):
          machine.succeed("test -f /run/current-system/activation-graph.toml")
          machine.succeed("grep -q 'stagehand activate' /run/current-system/activate")
          machine.succeed("grep -q 'stagehand activate --dry' /run/current-system/dry-activate")
          machine.succeed("grep -q -- '-stagehand-.*/bin/switch-to-configuration' /run/current-system/bin/switch-to-configuration")
          machine.fail("nix-store -qR /run/current-system | grep -E 'setup-etc[.]pl|update-users-groups[.]pl|switch-to-configuration-ng'")
          # Booting ran the graph: /etc is the generation's, the users exist.
          machine.succeed("test \"$(readlink -f /etc/static)\" = \"$(readlink -f /run/current-system/etc)\"")
          machine.succeed("getent passwd root")

      machine.succeed("${stderrRunner} ${machine}/bin/switch-to-configuration test")
      # Without /etc/NIXOS the switch recognises NixOS from /etc/os-release.
      machine.succeed("rm /etc/NIXOS")
      machine.succeed("${stderrRunner} ${otherSystem}/bin/switch-to-configuration test")

      boot_loader_text = "Warning: do not know how to make this configuration bootable; please enable a boot loader."

      with subtest("pre-switch checks"):
          machine.succeed("${stderrRunner} ${otherSystem}/bin/switch-to-configuration check")
          out = switch_to_specialisation("${otherSystem}", "failingCheck", action="check", fail=True)
          assert_contains(out, "this will fail")

      with subtest("actions"):
          out = switch_to_specialisation("${machine}", "simpleService", action="boot")
          assert_contains(out, boot_loader_text)
          assert_lacks(out, "activating the configuration...")
          out = switch_to_specialisation("${machine}", "", action="switch")
          assert_contains(out, boot_loader_text)
          assert_contains(out, "activating the configuration...")
          switch_to_specialisation("${machine}", "", action="broken-action", fail=True)
          assert "Usage:" in machine.fail("${machine}/bin/switch-to-configuration 2>&1")

      with subtest("init interface version"):
          assert "incompatible" in switch_to_specialisation("${machine}", "brokenInitInterface", fail=True)

      with subtest("systemd restarts"):
          out = switch_to_specialisation("${machine}", "modifiedSystemConf")
          assert_contains(out, "restarting systemd...")

      with subtest("continuing from an aborted switch"):
          machine.succeed("echo ${dbusService} > /run/nixos/start-list")
          out = switch_to_specialisation("${machine}", "modifiedSystemConf")
          assert_contains(out, "starting the following units: ${dbusService}\n")

      with subtest("aborts on already locked lock file"):
          (exitcode, _) = machine.execute(
              'flock -x --nb /run/nixos/switch-to-configuration.lock -c "${otherSystem}/bin/switch-to-configuration test"',
              timeout=5,
          )
          assert exitcode < 124, f"switch-to-configuration did not abort (exit code {exitcode}; 124 is the timeout)"

      with subtest("services"):
          switch_to_specialisation("${machine}", "")
          out = switch_to_specialisation("${machine}", "")
          assert_quiet(out)

          out = switch_to_specialisation("${machine}", "simpleService")
          assert_lacks(out, boot_loader_text)
          assert_lacks(out, "stopping the following units:")
          assert_lacks(out, "\nstarting the following units:")
          assert_contains(out, "the following new units were started: test.service\n")

          assert_quiet(switch_to_specialisation("${machine}", "simpleService"))
          assert_quiet(switch_to_specialisation("${machine}", "simpleServiceDifferentDescription"))

          out = switch_to_specialisation("${machine}", "simpleServiceModified")
          assert_contains(out, "stopping the following units: test.service\n")
          assert_lacks(out, "\nrestarting the following units:")
          assert_contains(out, "\nstarting the following units: test.service\n")
          assert_lacks(out, "the following new units were started:")

          out = switch_to_specialisation("${machine}", "simpleServiceNostop")
          assert_lacks(out, "stopping the following units:")
          assert_contains(out, "\nrestarting the following units: test.service\n")
          assert_lacks(out, "\nstarting the following units:")

          out = switch_to_specialisation("${machine}", "simpleServiceReload")
          assert_contains(out, "reloading the following units: test.service\n")
          assert_lacks(out, "\nrestarting the following units:")

          out = switch_to_specialisation("${machine}", "simpleServiceNorestart")
          assert_contains(out, "NOT restarting the following changed units: test.service\n")
          assert_lacks(out, "reloading the following units:")
          assert_lacks(out, "\nrestarting the following units:")

          out = switch_to_specialisation("${machine}", "simpleService", action="dry-activate")
          assert_quiet(out)
          assert_contains(out, "would start the following units: test.service\n")

      with subtest("failing units"):
          switch_to_specialisation("${machine}", "simpleServiceModified")
          out = switch_to_specialisation("${machine}", "simpleServiceFailing", fail=True)
          assert_contains(out, "stopping the following units: test.service\n")
          assert_contains(out, "\nstarting the following units: test.service\n")
          assert_contains(out, "warning: the following units failed: test.service\n")
          assert_contains(out, "Main PID:")

      with subtest("restart and reload by activation script"):
          switch_to_specialisation("${machine}", "simpleServiceNorestart")
          out = switch_to_specialisation("${machine}", "restartAndReloadByActivationScript")
          assert_contains(out, "stopping the following units: test.service\n")
          assert_lacks(out, "NOT restarting the following changed units:")
          assert_lacks(out, "reloading the following units:")
          assert_lacks(out, "restarting the following units:")
          assert_contains(out, "\nstarting the following units: ${
            sortedUnits [
              "no-restart-service.service"
              "simple-reload-service.service"
              "simple-restart-service.service"
              "simple-service.service"
            ]
          }\n")
          assert_contains(out, "the following new units were started: ${
            sortedUnits [
              "no-restart-service.service"
              "reload-triggers.service"
              "simple-reload-service.service"
              "simple-restart-service.service"
              "simple-service.service"
            ]
          }\n")

          # The same generation again: the lists restart and reload the running units.
          out = switch_to_specialisation("${machine}", "restartAndReloadByActivationScript")
          assert_lacks(out, "stopping the following units:")
          assert_lacks(out, "NOT restarting the following changed units:")
          assert_contains(out, "reloading the following units: ${
            sortedUnits [
              "reload-triggers.service"
              "simple-reload-service.service"
            ]
          }\n")
          assert_contains(out, "restarting the following units: ${
            sortedUnits [
              "simple-restart-service.service"
              "simple-service.service"
            ]
          }\n")
          assert_lacks(out, "\nstarting the following units:")
          assert_lacks(out, "the following new units were started:")

          # Dry: the snippet supports dry activation and writes the dry lists.
          out = switch_to_specialisation("${machine}", "restartAndReloadByActivationScript", action="dry-activate")
          assert_contains(out, "would reload the following units: ${
            sortedUnits [
              "reload-triggers.service"
              "simple-reload-service.service"
            ]
          }\n")
          assert_contains(out, "would restart the following units: ${
            sortedUnits [
              "simple-restart-service.service"
              "simple-service.service"
            ]
          }\n")
          assert_lacks(out, "\nwould start the following units:")

      with subtest("activation graph: deps and dry activation"):
          out = switch_to_specialisation("${machine}", "snippetAfterEtc")
          assert_contains(out, "after-etc: /etc is in place")
          out = switch_to_specialisation("${machine}", "snippetAfterEtc", action="dry-activate")
          assert_contains(out, "after-etc dry: ")
          # dry-activate changes nothing: the running generation is still the one switched to.
          machine.succeed("test \"$(readlink -f /run/current-system)\" = \"$(readlink -f ${machine}/specialisation/snippetAfterEtc)\"")
    '';
}
