import { spawn, spawnSync } from "child_process";
import { Lab, LabHost } from "./lab";
import { spoofedFrameProgram } from "./spoof-frame";

/**
 * Test traffic for lab hosts (lab.sh namespaces): a TCP round trip over loopback inside a host, a TCP connect from
 * the root namespace (outside the host), and a spoofed 127.0.0.1 datagram sent from outside. Only loopback and the
 * lab's own namespaces and veths are ever used.
 */

/** A TCP round trip to a fresh listener on addr (127.0.0.1 or ::1) inside the host, 1 s timeout: true when it worked. */
export function loopbackWorks(lab: Lab, x: LabHost, addr: string): boolean {
  const py = `import socket,sys\na='${addr}'\nf=socket.AF_INET6 if ':' in a else socket.AF_INET\ns=socket.socket(f);s.bind((a,0));s.listen(1)\nc=socket.socket(f);c.settimeout(1)\ntry:\n c.connect(s.getsockname()[:2])\nexcept Exception:\n sys.exit(1)`;
  return lab.try(x, `python3 -c "${py}"`).status === 0;
}

/** TCP connect from the root namespace (outside the host) with a 1 s timeout. */
export function reachableFromOutside(address: string, port: number): boolean {
  const family = address.includes(":") ? "socket.AF_INET6" : "socket.AF_INET";
  const py = `import socket,sys\nc=socket.socket(${family});c.settimeout(1)\ntry:\n c.connect(('${address}',${port}))\nexcept Exception:\n sys.exit(1)`;
  return spawnSync("python3", ["-c", py]).status === 0;
}

/**
 * Send one UDP datagram with source 127.0.0.1 to the host's eth0 from the root namespace, as a raw Ethernet
 * frame on the lab veth (AF_PACKET: no routing, no source checks on the sender). Returns what a UDP listener
 * bound on the host (port 9999) received within 2 s ("" when nothing arrived). The host must accept such a
 * source on eth0 for the datagram to get as far as its firewall: `lab.spoofable(name)`.
 */
export async function spoofReceived(lab: Lab, x: LabHost): Promise<string> {
  const index = x.name.split("-")[1];
  const id = process.env.LBP_LAB_ID ?? "0";
  const veth = id === "0" ? `lbpl${index}` : `lbp${id}l${index}`;
  const hostMac = lab.sh(x, "cat /sys/class/net/eth0/address").trim();
  const listener = spawn("ip", ["netns", "exec", x.labels.namespace, "python3", "-c",
    "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',9999));s.settimeout(2)\nprint('ready',flush=True)\ntry:\n print(s.recv(64).decode(),flush=True)\nexcept Exception:\n pass"]);
  let out = "";
  const closed = new Promise<void>((resolve) => listener.on("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the UDP listener did not start within 20 s")), 20_000); // python3 starting on a loaded machine
    listener.stdout.on("data", (d) => {
      out += d;
      if (out.includes("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const send = spoofedFrameProgram(x.address, hostMac, veth);
  const sent = spawnSync("python3", ["-c", send], { encoding: "utf8" });
  if (sent.status !== 0) {
    listener.kill();
    throw new Error(`sending the spoofed frame failed: ${sent.stderr}`);
  }
  await closed;
  return out.replace("ready", "").trim();
}
