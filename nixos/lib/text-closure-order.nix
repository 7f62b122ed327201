# The oracle for the graph-order unit test: the order in which NixOS's generated `activate` script
# runs `system.activationScripts`, computed as lib/strings-with-deps.nix's textClosureList does
# (names in attrNames order; before each entry its deps, depth first; a name is emitted once).
# Builtins only, so it evaluates without nixpkgs. Returns the snippet names instead of their text.
activationScripts:
let
  entry =
    name: v:
    if builtins.isString v then
      {
        inherit name;
        deps = [ ];
      }
    else
      {
        inherit name;
        deps = v.deps or [ ];
      };
  predefined = builtins.mapAttrs entry activationScripts;
  go =
    done: todo:
    if todo == [ ] then
      {
        result = [ ];
        inherit done;
      }
    else
      let
        head = builtins.head todo;
        rest = builtins.tail todo;
      in
      if builtins.isAttrs head then
        let
          x = go done head.deps;
          y = go x.done rest;
        in
        {
          result = x.result ++ [ head.name ] ++ y.result;
          inherit (y) done;
        }
      else if done ? ${head} then
        go done rest
      else
        go (done // { ${head} = true; }) ([ predefined.${head} ] ++ rest);
in
(go { } (builtins.attrNames predefined)).result
