import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { formatSyslog, Syslog } from "../../../../src/switch/run/syslog.ts";
import { tempDir } from "../../tmp.ts";

test("datagram format: facility user, identifier nixos", () => {
  assert.is(formatSyslog("nixos", "info", "switching", 42), "<14>nixos[42]: switching");
  assert.is(formatSyslog("nixos", "err", "x", 1), "<11>nixos[1]: x");
  assert.is(formatSyslog("nixos", "warning", "x", 1), "<12>nixos[1]: x");
});

test("lines reach a datagram socket, one record per line; no listener is not an error", async () => {
  const dir = tempDir("stc-syslog-");
  const sock = join(dir, "log");
  const py = "import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('ready',flush=True)\nfor _ in range(2): print(s.recv(4096).decode(),flush=True)";
  const listener = Bun.spawn(["python3", "-c", py, sock], { stdout: "pipe" });
  const reader = listener.stdout.getReader();
  const dec = new TextDecoder();
  let text = "";
  while (!text.includes("ready")) text += dec.decode((await reader.read()).value);
  const s = new Syslog("nixos", sock);
  s.log("info", "first line\nsecond line");
  while (text.split("\n").length < 4) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value);
  }
  listener.kill();
  assert.match(text, new RegExp(`<14>nixos\\[${process.pid}\\]: first line`));
  assert.match(text, /second line/);
  s.close();
  const none = new Syslog("nixos", join(dir, "absent"));
  assert.not.ok(existsSync(join(dir, "absent")));
  none.log("info", "dropped quietly");
});

test.run();
