import { execFileSync } from "child_process";
import { readFileSync, writeFileSync } from "fs";
import { NetnsHost } from "./netns";
import { spoofedFrameProgram } from "./spoof-frame";

/** Traffic between a namespace host and an outside client joined to it: connections and spoofed packets. */
let subnet = 0;

/** Joins c to h by a veth pair: h is 10.231.N.1 on eth0, the outside client c 10.231.N.2. */
export function outsideOf(h: NetnsHost, c: NetnsHost): { c: NetnsHost; addr: string } {
  const n = ++subnet;
  const a = `lbpv${process.pid % 1000}${n}a`, b = `lbpv${process.pid % 1000}${n}b`;
  execFileSync("sh", ["-c", `ip link add ${a} type veth peer name ${b} && ip link set ${a} netns ${h.ns} && ip link set ${b} netns ${c.ns}`]);
  h.sh(`ip link set ${a} name eth0 && ip addr add 10.231.${n}.1/24 dev eth0 && ip link set eth0 up`);
  c.sh(`ip link set ${b} name eth0 && ip addr add 10.231.${n}.2/24 dev eth0 && ip link set eth0 up`);
  // The host accepts 127.0.0.1 as a source on eth0 (what a spoofer needs): only the firewall stands in the way.
  h.sh("sysctl -qw net.ipv4.conf.eth0.route_localnet=1 net.ipv4.conf.eth0.accept_local=1 net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.all.rp_filter=0");
  return { c, addr: `10.231.${n}.1` };
}

/** Can the outside client open a TCP connection to addr:port (1 s)? The host listens on 0.0.0.0:port meanwhile. */
export function reachable(h: NetnsHost, c: NetnsHost, addr: string, port: number): boolean {
  h.sh(`python3 -c "import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',${port}));s.listen(5);time.sleep(3)" >/dev/null 2>&1 </dev/null & sleep 0.5`);
  const r = c.try(`python3 -c "import socket,sys;s=socket.socket();s.settimeout(1);sys.exit(0 if s.connect_ex(('${addr}',${port}))==0 else 1)"`);
  return r.status === 0;
}

/** Send one UDP packet to addr:9999 from 127.0.0.1, as a raw Ethernet frame from the client; what the host received. */
export function spoofReceived(h: NetnsHost, c: NetnsHost, addr: string): string {
  const got = `${h.dir}/spoof.got`;
  writeFileSync(got, "");
  h.sh(`python3 -c "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',9999));s.settimeout(2)\ntry:\n print(s.recv(64).decode(),flush=True)\nexcept Exception:\n pass" > ${got} 2>&1 </dev/null & sleep 0.5`);
  const hostMac = h.sh("cat /sys/class/net/eth0/address").trim();
  const send = spoofedFrameProgram(addr, hostMac, "eth0");
  writeFileSync(`${c.dir}/send.py`, send);
  c.sh(`python3 ${c.dir}/send.py`);
  h.sh("sleep 2");
  return readFileSync(got, "utf8").trim();
}
