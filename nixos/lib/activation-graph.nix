# Renders NixOS's `system.activationScripts` into stagehand's activation graph: an attribute set with
# the shape of `activation-graph.toml` (`[shell]` and `[steps.NAME]`).
#
# Pure and written with builtins only, so the unit tests evaluate this very file with
# `nix-instantiate --eval` on a fixture, and module.nix feeds its result to `pkgs.formats.toml`.
#
# Each snippet keeps its name, its `deps` (as `after`) and its `supportsDryActivation`, so stagehand's
# order is NixOS's textClosureMap order. Snippets named in `builtinSteps` (`users`, `etc`) become
# builtin steps: same name and deps, the Perl they ran replaced by stagehand's own implementation.
{
  # `system.activationScripts`, without the generated `script` attribute.
  activationScripts,
  # NAME = { builtin; options; description?; supportsDryActivation?; } for snippets to replace.
  builtinSteps ? { },
  # NAME = step for steps NixOS does not have (each must already use the graph's field names).
  extraSteps ? { },
  # { interpreter; path; preamble; } or null to keep stagehand's defaults.
  shell ? null,
}:
let
  # A snippet is a string (no deps, not dry-activatable) or { text; deps; supportsDryActivation; },
  # exactly as activation-script.nix reads it.
  normalise =
    v:
    if builtins.isString v then
      {
        text = v;
        deps = [ ];
        supportsDryActivation = false;
      }
    else
      {
        text = v.text or "";
        deps = v.deps or [ ];
        supportsDryActivation = v.supportsDryActivation or false;
      };

  unknownDeps =
    name: s: builtins.filter (d: !(activationScripts ? ${d} || extraSteps ? ${d})) s.deps;

  renderStep =
    name: v:
    let
      s = normalise v;
      missing = unknownDeps name s;
      replacement = builtinSteps.${name};
    in
    if missing != [ ] then
      throw "system.activationScripts.${name} depends on unknown snippet(s): ${builtins.concatStringsSep ", " missing}"
    else if builtinSteps ? ${name} then
      {
        kind = "builtin";
        builtin = replacement.builtin;
        options = replacement.options or { };
        after = s.deps;
        supportsDryActivation = replacement.supportsDryActivation or s.supportsDryActivation;
      }
      // (if replacement ? description then { inherit (replacement) description; } else { })
    else
      {
        kind = "shell";
        inherit (s) text supportsDryActivation;
        after = s.deps;
      };
  # An extra step ordered before snippets this configuration lacks is left out with them.
  keptExtraSteps = builtins.removeAttrs extraSteps (
    builtins.filter (
      n: !(builtins.all (b: activationScripts ? ${b}) (extraSteps.${n}.before or [ ]))
    ) (builtins.attrNames extraSteps)
  );
in
{
  steps = builtins.mapAttrs renderStep activationScripts // keptExtraSteps;
}
// (if shell == null then { } else { inherit shell; })
