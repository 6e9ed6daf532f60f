import { Persistence, validateFleet } from "../../lib/core";
import { errorOf, fleet } from "../support/validation";

/** Persistence files: only a ruleset's place, never a system file or the engine's own state. */



describe("persistence files that are not a place for a ruleset", () => {
  test.each([
    "/etc/shadow", "/etc/passwd", "/etc/group", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d/lbp", "/etc/ssh/sshd_config",
    "/etc/hosts", "/etc/fstab", "/etc/crontab", "/etc/cron.d/x", "/etc/profile", "/etc/profile.d/x.sh", "/etc/environment",
    "/etc/ld.so.preload", "/etc/ld.so.conf.d/x.conf", "/etc/pam.d/sshd", "/etc/systemd/system/x.service", "/root/.ssh/authorized_keys",
    "/home/ops/.ssh/authorized_keys", "/etc/iptables/", "/etc/iptables", "/proc/self/mem", "/sys/x", "/dev/sda", "/run/loopback-policy/state",
    "/boot/grub/grub.cfg", "/bin/sh", "/sbin/init", "/lib/x", "/lib64/ld-linux-x86-64.so.2", "/usr/bin/x", "/usr/lib/x", "/var/lib/x",
    "/tmp/rules.v4", "/etc", "/etc/", "/etc/iptables/.ssh/x",
  ])("GIVEN %s as v4Path or v6Path THEN refused with the reason", (path) => {
    const v4 = errorOf(() => Persistence.files(path, "/etc/iptables/rules.v6"));
    expect(v4.field).toBe("persistence.v4Path");
    expect(v4.fix).toMatch(/\/etc\/iptables\/rules\.v4/);
    const v6 = errorOf(() => validateFleet(fleet({ persistence: { v4Path: "/etc/iptables/rules.v4", v6Path: path } })));
    expect(v6.field).toBe("persistence.v6Path");
  });

  test.each(["/etc/iptables/rules.v4", "/etc/sysconfig/iptables", "/etc/fw/v4.rules", "/etc/iptables.rules", "/usr/local/etc/iptables/rules.v4"])(
    "GIVEN %s THEN accepted",
    (path) => {
      expect(Persistence.files(path).v4Path).toBe(path);
    },
  );
});
