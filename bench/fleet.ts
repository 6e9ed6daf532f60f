import { createHash } from "crypto";

/**
 * A synthetic fleet for the synthesis benchmark, deterministic for a size: `web-<i>` hosts sharing the fleet
 * policy and, every tenth host, a `db-<i>` host with its own policy (two local-only ports), so the fleet has two
 * distinct policies and per-host overrides are validated and grouped. Every host has its own address and a
 * pinned (made-up, well-formed) ed25519 host key, as a real inventory would; the key file is fleet-wide.
 */
export function generateFleet(n: number, stack: string): object {
  const hosts = [];
  for (let i = 0; i < n; i++) {
    const db = i % 10 === 9;
    const k = i + 1;
    const name = `${db ? "db" : "web"}-${k}`;
    // An OpenSSH ed25519 public key blob: "ssh-ed25519" and 32 bytes of key.
    const blob = Buffer.concat([Buffer.from("0000000b7373682d6564323535313900000020", "hex"), createHash("sha256").update(name).digest()]);
    hosts.push({
      name,
      address: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`,
      hostKey: [`ssh-ed25519 ${blob.toString("base64")}`], // a list: all the keys the host has
      labels: { role: db ? "db" : "web" },
      ...(db ? { policy: { localOnlyPorts: ["tcp/5432", "tcp/9187"] } } : {}),
    });
  }
  return {
    stack,
    resourceType: "terraform_data",
    connection: { user: "root", privateKeyPath: "~/.ssh/fleet_ed25519" },
    hosts,
  };
}
