import { spawn } from "child_process";
import { SshRun } from "./outcome";

/**
 * Run ssh with `input` on its stdin; kill it after `timeoutSeconds`. Never rejects: a missing ssh binary ends
 * as exit 255 with the reason on stderr, like any other connection failure.
 */
export function runSsh(ssh: string, args: readonly string[], input: string, timeoutSeconds: number): Promise<SshRun> {
  return new Promise((resolve) => {
    const child = spawn(ssh, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let settled = false;
    const finish = (exitCode: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ exitCode, stdout, stderr, timedOut, timeoutSeconds });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutSeconds * 1000);
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", (e) => {
      stderr += `${ssh}: ${e.message}\n`;
      finish(255);
    });
    child.on("close", (code) => finish(code));
    // The remote side may close stdin early (a failed login): that is reported by the exit code, not here.
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
  });
}
