# stagehand as a Nix package: the `bun build --compile` binary, also installed as
# `switch-to-configuration` (the multi-call name), with the unit tests run in checkPhase.
#
# Offline and reproducible: every npm package is fetched as its own fixed-output derivation, pinned
# by the `integrity` hash package-lock.json already records, so there is no hash to maintain here
# and the build itself has no network. Bun itself comes from nixpkgs (`bun`), not from the `bun`
# npm package, whose install script would download a binary.
{
  lib,
  stdenvNoCC,
  fetchurl,
  bun,
  nix,
  gnutar,
  gzip,
  src ? ../.,
  # Run test/unit in checkPhase.
  doCheck ? true,
}:
# The build script passes `--compile-jit-policy`, which bun accepts from 1.4.3 on; 1.4.2 takes the
# flag without a word and ignores it, so an older bun would build a binary that silently lacks it.
assert lib.assertMsg (lib.versionAtLeast bun.version "1.4.3") ''
  stagehand needs bun >= 1.4.3 to build (package.json's build script uses --compile-jit-policy,
  which bun ${bun.version} ignores); pass a newer one: callPackage ./package.nix { bun = ...; }'';
let
  packageJson = lib.importJSON (src + "/package.json");
  lock = lib.importJSON (src + "/package-lock.json");

  # `node_modules/a/node_modules/@s/b` -> `@s/b`: the package name is what follows the last `node_modules/`.
  packageName = path: lib.last (lib.splitString "node_modules/" path);

  # The registry's tarball address for a lockfile entry (the lockfile carries no `resolved` URLs).
  tarballUrl =
    path: entry:
    let
      name = packageName path;
      base = lib.last (lib.splitString "/" name);
    in
    entry.resolved or "https://registry.npmjs.org/${name}/-/${base}-${entry.version}.tgz";

  # Platform binaries are optional entries; the `bun` package's own runtime is replaced by nixpkgs' bun.
  wanted =
    path: entry:
    path != "" && !(entry.optional or false) && !(entry.link or false) && packageName path != "bun";

  modules = lib.mapAttrsToList (path: entry: {
    inherit path;
    tarball = fetchurl {
      url = tarballUrl path entry;
      hash = entry.integrity;
    };
  }) (lib.filterAttrs wanted lock.packages);

  nodeModules = stdenvNoCC.mkDerivation {
    pname = "stagehand-node-modules";
    inherit (packageJson) version;
    dontUnpack = true;
    nativeBuildInputs = [
      gnutar
      gzip
    ];
    installPhase = ''
      runHook preInstall
      mkdir -p $out
      ${lib.concatMapStrings (m: ''
        mkdir -p "$out/${m.path}"
        tar -xzf ${m.tarball} --strip-components=1 --no-same-owner -C "$out/${m.path}"
      '') modules}
      runHook postInstall
    '';
  };
in
stdenvNoCC.mkDerivation {
  pname = "stagehand";
  inherit (packageJson) version;

  # The repository without what a checkout may hold besides sources (local node_modules, dist, .git),
  # so a local build neither copies nor depends on them.
  src = builtins.path {
    name = "stagehand-source";
    path = src;
    filter =
      path: type:
      let
        base = baseNameOf path;
      in
      !(builtins.elem base [
        "node_modules"
        "dist"
        ".git"
        "result"
      ]);
  };

  nativeBuildInputs = [ bun ];
  nativeCheckInputs = [ nix ];

  configurePhase = ''
    runHook preConfigure
    export HOME=$TMPDIR
    cp -r ${nodeModules}/node_modules node_modules
    chmod -R u+w node_modules
    runHook postConfigure
  '';

  # package.json's build script itself, run by the bun from nixpkgs, so the two builds cannot
  # drift: its flags keep the binary from loading a `.env` or `bunfig.toml` from the working
  # directory it runs in, which matters for a program run as root. They need a bun at least as new
  # as the one package.json pins.
  buildPhase = ''
    runHook preBuild
    bun run build
    runHook postBuild
  '';

  inherit doCheck;
  # The unit tests only (test/system needs root and systemd-nspawn). The NixOS tests in
  # test/unit/nixos evaluate Nix; the dummy store lets nix-instantiate run inside the sandbox.
  # real-eval.test.ts is left to CI: it debootstraps Debian's Nix and needs root.
  checkPhase = ''
    runHook preCheck
    export NIX_REMOTE=dummy://
    export NIX_STATE_DIR=$TMPDIR/nix-state NIX_CONF_DIR=$TMPDIR
    bun test/run.ts $(find test/unit -name '*.test.ts' ! -name real-eval.test.ts | sort)
    runHook postCheck
  '';

  installPhase = ''
    runHook preInstall
    install -Dm755 dist/stagehand $out/bin/stagehand
    # The multi-call name: `switch-to-configuration ACTION` (dispatch is on the invoked name).
    ln -s stagehand $out/bin/switch-to-configuration
    runHook postInstall
  '';

  # A `bun build --compile` binary is bun followed by the bundled program: stripping or
  # patchelf-shrinking it cuts that payload off.
  dontStrip = true;
  dontPatchELF = true;

  passthru = { inherit nodeModules; };

  meta = {
    description = packageJson.description;
    license = lib.licenses.mit;
    mainProgram = "stagehand";
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };
}
