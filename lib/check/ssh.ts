import { HostEntry } from "../constructs/host-entries";
import { shellQuote } from "../render/shell";

/**
 * What runs on the host: store the script from stdin in a temporary file and run it with sh, so that the
 * engine can re-run itself through sudo (`exec sudo -n /bin/sh "$0"`), which `sh -s` could not; the file is
 * removed and the script's exit code returned.
 */
export const REMOTE_COMMAND = 'f=$(mktemp) && cat > "$f" && sh "$f"; rc=$?; rm -f "$f"; exit $rc';

/** The names the temporary known_hosts files know the host and the bastion by (`HostKeyAlias`). */
export const HOST_ALIAS = "loopback-policy-host";
export const BASTION_ALIAS = "loopback-policy-bastion";

/** The temporary known_hosts files of one host's check. */
export interface KnownHostsFiles {
  readonly host: string;
  readonly bastion: string;
}

/** How to run ssh for one host, and what to write to the known_hosts files first. */
export interface SshCommand {
  /** Arguments of `ssh`. */
  readonly args: string[];
  /** Content of the host's known_hosts file: the pinned key, or empty (accept-new). */
  readonly hostKnownHosts: string;
  /** Content of the bastion's known_hosts file; `null` without a bastion. */
  readonly bastionKnownHosts: string | null;
}

/** Timeouts of the SSH connections, in seconds. */
export interface SshOptions {
  readonly connectTimeout: number;
  /** The home directory `~` expands to in key paths (Terraform's `pathexpand`). */
  readonly home: string;
}

/**
 * The ssh command for a host's entry. Only the entry counts (`-F /dev/null`: no ssh_config, as Terraform), in
 * batch mode. A pinned host key is the only key a temporary known_hosts file accepts (StrictHostKeyChecking
 * yes); without one, the key offered is accepted into an empty temporary file (as Terraform accepts any key).
 * A bastion is reached with a ProxyCommand running ssh with its own key and known_hosts.
 */
export function sshCommand(entry: HostEntry, files: KnownHostsFiles, options: SshOptions): SshCommand {
  const args = [
    ...common(files.host, HOST_ALIAS, entry.host_key, entry.private_key_path, options),
    ...(entry.bastion_host ? ["-o", `ProxyCommand=${proxyCommand(entry, files, options)}`] : []),
    "-p", entry.port, "-l", entry.user, "--", entry.address, REMOTE_COMMAND,
  ];
  return {
    args,
    hostKnownHosts: knownHostsLine(HOST_ALIAS, entry.host_key),
    bastionKnownHosts: entry.bastion_host ? knownHostsLine(BASTION_ALIAS, entry.bastion_host_key) : null,
  };
}

function common(knownHosts: string, alias: string, hostKey: string, keyPath: string, o: SshOptions): string[] {
  return [
    "-F", "/dev/null", "-T",
    "-o", "BatchMode=yes",
    "-o", `ConnectTimeout=${o.connectTimeout}`,
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=3",
    "-o", "LogLevel=ERROR",
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", `UserKnownHostsFile=${knownHosts}`,
    "-o", `HostKeyAlias=${alias}`,
    "-o", `StrictHostKeyChecking=${hostKey ? "yes" : "accept-new"}`,
    ...(hostKey ? ["-o", `HostKeyAlgorithms=${hostKeyAlgorithms(hostKey)}`] : []),
    "-o", "UpdateHostKeys=no",
    ...(keyPath ? ["-i", expandHome(keyPath, o.home), "-o", "IdentitiesOnly=yes"] : []),
  ];
}

/** `ssh ... -W [%h]:%p bastion`, as one shell command line for ProxyCommand (`%` doubled where literal). */
function proxyCommand(e: HostEntry, files: KnownHostsFiles, o: SshOptions): string {
  const literal = [
    "ssh", ...common(files.bastion, BASTION_ALIAS, e.bastion_host_key, e.bastion_private_key_path, o),
    "-p", e.bastion_port, "-l", e.bastion_user,
  ].map((a) => shellQuote(a.replace(/%/g, "%%")));
  return [...literal, "-W", "'[%h]:%p'", "--", shellQuote(e.bastion_host.replace(/%/g, "%%"))].join(" ");
}

/**
 * The host key algorithms that verify the pinned key, so that ssh negotiates its type and no other (OpenSSH on
 * its own prefers ed25519, Terraform's client ECDSA: validation pins the key Terraform negotiates, and the check
 * must ask for that one too). An RSA key signs with rsa-sha2-512, rsa-sha2-256 or, on old servers, ssh-rsa.
 */
export function hostKeyAlgorithms(hostKey: string): string {
  const type = hostKey.split(" ")[0];
  return type === "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256,ssh-rsa" : type;
}

function knownHostsLine(alias: string, key: string): string {
  return key ? `${alias} ${key}\n` : "";
}

/** Terraform's `pathexpand`: a leading `~` is the home directory. */
export function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  return path.startsWith("~/") ? `${home}${path.slice(1)}` : path;
}
