/**
 * Three projects, all run by `npm test`:
 *  - unit:  policy model, planner, renderer, synthesized stacks (snapshots, terraform validate), injection
 *  - netns: the rendered host script against real iptables/ip6tables in network namespaces (root)
 *  - e2e:   a lab fleet of namespaces with sshd, deployed with the real cdktf CLI (root)
 *  - package: the packed tarball installed into a fresh `cdktf init --template=typescript` project, used every way
 */
const common = {
  preset: "ts-jest",
  testEnvironment: "node",
  setupFilesAfterEnv: ["<rootDir>/setup.js"],
};

module.exports = {
  // Every temp file of the run goes in a directory of its own, removed at the end (cdktf's Testing helpers never
  // remove theirs): see global-setup.js.
  globalSetup: "<rootDir>/global-setup.js",
  globalTeardown: "<rootDir>/global-teardown.js",
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/__tests__/unit/**/*.test.ts"] },
    { ...common, displayName: "netns", testMatch: ["<rootDir>/__tests__/netns/**/*.test.ts"] },
    { ...common, displayName: "e2e", testMatch: ["<rootDir>/__tests__/e2e/**/*.test.ts"] },
    { ...common, displayName: "package", testMatch: ["<rootDir>/__tests__/package/**/*.test.ts"] },
  ],
};
