/**
 * A python3 program that sends, out of `iface`, one raw Ethernet frame to `hostMac` carrying a UDP datagram
 * "spoofed-loopback" from 127.0.0.1:40000 to `dst`:9999 (what a spoofer on the host's link sends).
 */
export function spoofedFrameProgram(dst: string, hostMac: string, iface: string): string {
  return [
    "import socket,struct",
    `src=socket.inet_aton('127.0.0.1');dst=socket.inet_aton('${dst}')`,
    "payload=b'spoofed-loopback'",
    "udp=struct.pack('!HHHH',40000,9999,8+len(payload),0)+payload",
    "hdr=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(udp),1,0,64,17,0,src,dst)",
    "s=sum(struct.unpack('!10H',hdr));s=(s&0xffff)+(s>>16);s=(s&0xffff)+(s>>16)",
    "hdr=hdr[:10]+struct.pack('!H',~s&0xffff)+hdr[12:]",
    "mac=lambda m: bytes(int(b,16) for b in m.split(':'))",
    `src_mac=open('/sys/class/net/${iface}/address').read().strip()`,
    `frame=mac('${hostMac}')+mac(src_mac)+b'\\x08\\x00'+hdr+udp`,
    "p=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)",
    `p.bind(('${iface}',0))`,
    "p.send(frame)",
  ].join("\n");
}
