import { randomBytes } from "crypto";
import { validateFleet } from "../../lib/core";
import { synth } from "../support/synth";
import { errorOf, fleet } from "../support/validation";

/** Host key pinning as users write it: the key Terraform's Go SSH client negotiates is the one pinned. */



describe("host keys as users write them", () => {
  // Key blobs as OpenSSH writes them: the type as an SSH string, then key bytes.
  const blob = (type: string, n: number) => Buffer.concat([Buffer.from([0, 0, 0, type.length]), Buffer.from(type), randomBytes(n)]).toString("base64");
  const ED = `ssh-ed25519 ${blob("ssh-ed25519", 36)}`;
  const EC = `ecdsa-sha2-nistp256 ${blob("ecdsa-sha2-nistp256", 100)}`;
  const RSA = `ssh-rsa ${blob("ssh-rsa", 260)}`;
  const keyscan = (h: string) => [`# ${h}:22 SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`, `${h} ${RSA}`, `# ${h}:22 SSH-2.0-OpenSSH_9.2p1`, `${h} ${EC}`, `${h} ${ED}`, ""].join("\n");

  test("GIVEN ssh-keyscan output (rsa, ecdsa, ed25519) WHEN validated THEN the ECDSA key Terraform negotiates is pinned", () => {
    expect(validateFleet(fleet({}, { hostKey: keyscan("192.0.2.10") })).hosts[0].hostKey).toBe(EC);
    expect(validateFleet(fleet({}, { hostKey: keyscan("[192.0.2.10]:2222") })).hosts[0].hostKey).toBe(EC);
  });

  test("GIVEN all keys as a list, in any order THEN the key of the algorithm Go's x/crypto prefers", () => {
    expect(validateFleet(fleet({}, { hostKey: [ED, RSA, EC] })).hosts[0].hostKey).toBe(EC);
    expect(validateFleet(fleet({}, { hostKey: [ED, RSA] })).hosts[0].hostKey).toBe(RSA); // x/crypto: rsa-sha2-* before ssh-ed25519
    expect(validateFleet(fleet({}, { hostKey: [`${ED}\n${EC}`] })).hosts[0].hostKey).toBe(EC);
  });

  test("GIVEN a list of one key THEN it is all the keys the host has, and pinned", () => {
    expect(validateFleet(fleet({}, { hostKey: [ED] })).hosts[0].hostKey).toBe(ED);
  });

  test("GIVEN one ECDSA key as a string THEN pinned as before", () => {
    expect(validateFleet(fleet({}, { hostKey: EC })).hosts[0].hostKey).toBe(EC);
    expect(validateFleet(fleet({}, { hostKey: `  ${EC}\n` })).hosts[0].hostKey).toBe(EC);
  });

  test.each([["ed25519", ED], ["rsa", RSA], ["ed25519 from ssh-keyscan -t ed25519", `192.0.2.10 ${ED}\n`]])(
    "GIVEN one %s key alone as a string THEN refused: a stock sshd also has an ECDSA key, which Terraform would negotiate",
    (_name, hostKey) => {
      const e = errorOf(() => validateFleet(fleet({}, { hostKey })));
      expect(e.field).toBe("hosts[0].hostKey");
      expect(e.message).toMatch(/Terraform.*negotiates ecdsa/);
      expect(e.fix).toMatch(/ssh-keyscan -t ecdsa 192\.0\.2\.10/);
      expect(e.fix).toMatch(/all of the host's keys/);
    },
  );

  test("GIVEN keyscan output or a list for the connection default and a bastion THEN each pins its negotiated key", () => {
    const f = validateFleet(fleet({ connection: { hostKey: [ED, EC], bastion: { address: "192.0.2.1", hostKey: keyscan("192.0.2.1") } } }));
    expect(f.hosts[0].hostKey).toBe(EC);
    expect(f.hosts[0].bastion!.hostKey).toBe(EC);
    const e = errorOf(() => validateFleet(fleet({ connection: { bastion: { address: "jump.example.com", hostKey: ED } } })));
    expect(e.field).toBe("connection.bastion.hostKey");
    expect(e.fix).toMatch(/ssh-keyscan -t ecdsa jump\.example\.com/);
  });

  test.each<[string, unknown, RegExp]>([
    ["a comment after the key", `${ED} root@x`, /without a comment/],
    ["an empty list", [], /no key/],
    ["only comments", "# nothing\n\n", /no key/],
    ["keys of two hosts", `a.example ${EC}\nb.example ${ED}`, /keys of several hosts/],
    ["two different keys of one type", [EC, `ecdsa-sha2-nistp256 ${blob("ecdsa-sha2-nistp256", 100)}`], /two different ecdsa-sha2-nistp256 keys/],
    ["a security-key type", [`sk-ssh-ed25519@openssh.com ${blob("sk-ssh-ed25519@openssh.com", 40)}`], /not a host key type/],
    ["a known_hosts marker", `@cert-authority *.example ${EC}`, /marker/],
    ["a list with a number", [EC, 5], /not an SSH public host key/],
  ])("GIVEN %s THEN refused", (_name, hostKey, message) => {
    const e = errorOf(() => validateFleet(fleet({}, { hostKey })));
    expect(e.field).toBe("hosts[0].hostKey");
    expect(e.message).toMatch(message);
  });
});

describe("what is synthesized from ssh-keyscan output", () => {
  test("GIVEN keyscan output for a host and its bastion THEN each entry holds the single negotiated key, as Terraform's host_key takes it", () => {
    const ec = (n: number) => `ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBB${"Q".repeat(n)}`;
    const scan = (h: string, n: number) => `# ${h}:22 SSH-2.0-OpenSSH_9.2p1\n${h} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEd${n}\n${h} ${ec(n)}\n${h} ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB${n}\n`;
    const { json } = synth({ resourceType: "terraform_data", hosts: [{ name: "web-1", address: "192.0.2.10", hostKey: scan("192.0.2.10", 8), bastion: { address: "192.0.2.1", hostKey: scan("192.0.2.1", 4) } }] } as never);
    const entry = json.locals.loopback_hosts["web-1"];
    expect(entry.host_key).toBe(ec(8));
    expect(entry.bastion_host_key).toBe(ec(4));
  });
});
