import { execFileSync, spawnSync } from "child_process";
import { statSync } from "fs";
import { join } from "path";

/**
 * A test host's own /etc entries: `ip netns exec NS` bind-mounts each entry of /etc/netns/NS/ over /etc/<entry>,
 * but only the entries that exist when it runs; a missing one leaves the machine's own /etc/<entry> in place, and a
 * test's `ufw allow ...` then writes the machine's ufw (it once did: the lab removed a staged directory before its
 * hosts were configured, and every later suite copied the polluted /etc/ufw). So hosts start from ufw as the
 * package installs it, not from whatever the machine's /etc/ufw holds, and a test checks the mount before it writes.
 */

/** /etc/netns/NS/ufw: the package's files, with user.rules, user6.rules and ufw.conf fresh from /usr/share/ufw. */
export function stageUfw(ns: string): void {
  const dir = join("/etc/netns", ns, "ufw");
  execFileSync("sh", ["-ec", `mkdir -p "$1" && cp -a /etc/ufw/. "$1"/ && for f in user.rules user6.rules; do cp -L /usr/share/ufw/$f "$1/$f"; chmod 640 "$1/$f"; done && cp -L /usr/share/ufw/ufw.conf "$1/ufw.conf" && chmod 644 "$1/ufw.conf"`, "sh", dir]);
}

/** Throws unless /etc/ENTRY, as seen inside namespace NS, is /etc/netns/NS/ENTRY (the bind mount is in place). */
export function assertOwnEtc(ns: string, entry: string): void {
  const staged = join("/etc/netns", ns, entry);
  let want: string;
  try {
    const st = statSync(staged);
    want = `${st.dev}:${st.ino}`;
  } catch {
    throw new Error(`${staged} is missing: inside ${ns}, /etc/${entry} would be the machine's own; refusing to let the test write to it`);
  }
  const r = spawnSync("ip", ["netns", "exec", ns, "stat", "-c", "%d:%i", `/etc/${entry}`], { encoding: "utf8" });
  if (r.status !== 0 || r.stdout.trim() !== want) {
    throw new Error(`inside ${ns}, /etc/${entry} is not ${staged} (${r.stdout.trim() || r.stderr.trim()} vs ${want}): the test would write to the machine's own /etc/${entry}`);
  }
}
