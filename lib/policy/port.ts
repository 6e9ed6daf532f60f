import { LoopbackPolicyError } from "./errors";
import { quoteValue } from "./quote";

/** Transport protocol of a local-only port (a string in jsii languages). */
export type PortProtocol = "tcp" | "udp";

const SPEC = /^(tcp|udp)\/(\d{1,5})(?:-(\d{1,5}))?$/;

/**
 * A TCP or UDP port, or an inclusive range of ports, that only loopback clients may reach (seed 004).
 *
 * Build one with the static factories, or parse the fleet-file form with {@link LocalPort.parse}:
 * `LocalPort.tcp(8080)`, `LocalPort.tcpRange(9000, 9100)`, `LocalPort.parse("udp/53")`.
 */
export class LocalPort {
  /** A single TCP port. */
  public static tcp(port: number): LocalPort {
    return new LocalPort("tcp", port, port);
  }

  /** An inclusive range of TCP ports. */
  public static tcpRange(fromPort: number, toPort: number): LocalPort {
    return new LocalPort("tcp", fromPort, toPort);
  }

  /** A single UDP port. */
  public static udp(port: number): LocalPort {
    return new LocalPort("udp", port, port);
  }

  /** An inclusive range of UDP ports. */
  public static udpRange(fromPort: number, toPort: number): LocalPort {
    return new LocalPort("udp", fromPort, toPort);
  }

  /**
   * Parse `tcp/8080`, `tcp/9000-9100` or `udp/53` (the form used in fleet files).
   * @param field where the text came from, for the error message
   */
  public static parse(text: string, field = "localOnlyPorts"): LocalPort {
    const m = SPEC.exec(String(text).trim());
    if (!m) {
      throw new LoopbackPolicyError(
        field,
        `${quoteValue(text)} is not a port`,
        'write "tcp/8080", "udp/53" or a range "tcp/9000-9100"',
      );
    }
    const from = Number(m[2]);
    const to = m[3] === undefined ? from : Number(m[3]);
    return new LocalPort(m[1] as PortProtocol, from, to, field);
  }

  private constructor(
    /** `tcp` or `udp`. */
    public readonly protocol: PortProtocol,
    /** First port of the range (the port itself for a single port). */
    public readonly fromPort: number,
    /** Last port of the range, inclusive. */
    public readonly toPort: number,
    field = "localOnlyPorts",
  ) {
    const from = fromPort;
    const to = toPort;
    for (const [name, value] of [["port", from], ["end of range", to]] as const) {
      if (!Number.isInteger(value) || value < 1 || value > 65535) {
        throw new LoopbackPolicyError(field, `${name} ${value} is out of range`, "use a whole number from 1 to 65535");
      }
    }
    if (to < from) {
      throw new LoopbackPolicyError(
        field,
        `range ${from}-${to} is reversed`,
        `write the lower port first: "${protocol}/${to}-${from}"`,
      );
    }
  }

  /** True when this is a range of more than one port. */
  public get isRange(): boolean {
    return this.toPort !== this.fromPort;
  }

  /** The iptables multiport form: `8080` or `9000:9100`. */
  public toIptables(): string {
    return this.isRange ? `${this.fromPort}:${this.toPort}` : `${this.fromPort}`;
  }

  /** Reads like the fleet-file form: `tcp/8080`, `tcp/9000-9100`. */
  public toString(): string {
    return this.isRange ? `${this.protocol}/${this.fromPort}-${this.toPort}` : `${this.protocol}/${this.fromPort}`;
  }
}
