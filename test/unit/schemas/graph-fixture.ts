/** A small activation graph on disk with one step of each outcome, for the plan --graph and activate schema tests. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../tmp.ts";

/** A users spec as NixOS's users-groups.nix writes it (every key, nulls included). */
export const NIXOS_USERS_SPEC = {
  mutableUsers: false,
  users: [
    {
      name: "alice", uid: 1000, group: "users", description: "Alice", home: "/home/alice", homeMode: "700",
      createHome: true, isSystemUser: false, password: null, hashedPasswordFile: null,
      hashedPassword: "$6$salt$0123456789abcdef", autoSubUidGidRange: false,
      subUidRanges: [{ startUid: 100000, count: 65536 }], subGidRanges: [{ startGid: 100000, count: 65536 }],
      initialPassword: null, initialHashedPassword: null, expires: "2030-01-31", shell: "/run/current-system/sw/bin/bash",
    },
    {
      name: "svc", uid: null, group: "svc", description: "", home: "/var/empty", homeMode: "700", createHome: false,
      isSystemUser: true, password: null, hashedPasswordFile: null, hashedPassword: null, autoSubUidGidRange: false,
      subUidRanges: [], subGidRanges: [], initialPassword: null, initialHashedPassword: null, expires: null, shell: null,
    },
  ],
  groups: [
    { name: "users", gid: 100, members: ["alice"] },
    { name: "svc", gid: null, members: [] },
    { name: "wheel", gid: 1, members: ["alice"] },
  ],
};

/**
 * A scratch root holding a generation directory (`/system`, users-groups.json inside; `system` is
 * that in-root path, as `activate --root` takes it) and a graph file on this machine with shell
 * (refused with `--root`, in a dry run too), failing, dry-less (a builtin: skipped in a dry run)
 * and builtin steps.
 */
export function graphFixture(opts: { badSpec?: boolean } = {}): { system: string; graph: string; root: string } {
  const dir = tempDir("schema-graph-");
  const root = join(dir, "root");
  const system = join(root, "system");
  mkdirSync(root);
  mkdirSync(system);
  writeFileSync(join(system, "users-groups.json"), opts.badSpec ? JSON.stringify({ users: [{ name: "Bad:Name" }] }) : JSON.stringify(NIXOS_USERS_SPEC));
  const graph = join(dir, "activation-graph.toml");
  // bash wherever it is (a Nix build sandbox has no /bin/bash).
  writeFileSync(graph, `
[shell]
interpreter = ${JSON.stringify(Bun.which("bash") ?? "/bin/bash")}

[steps.greet]
kind = "shell"
supportsDryActivation = true
text = "echo hello from a snippet"

[steps.fails]
kind = "shell"
after = ["greet"]
supportsDryActivation = true
text = "false"

[steps.nodry]
builtin = "etc"
before = ["users"]
supportsDryActivation = false
options = { etc = "\${systemConfig}/etc" }

[steps.users]
builtin = "users"
after = ["greet"]
supportsDryActivation = true
options = { spec = "\${systemConfig}/users-groups.json" }
`);
  return { system: "/system", graph, root };
}
