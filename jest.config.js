/** Four projects:
 * - `unit`: the Pulumi mock runtime and pure logic (`npm test`);
 * - `failover`: the exhaustive failover diffs, which evaluate every stack under
 *   both activeSite values in every DNS mode and database generation (`npm run test:failover`);
 * - `commands`: README's commands run exactly as written, each in a child process (`npm run test:commands`);
 * - `integration`: real PostgreSQL, MinIO and moto started by its globalSetup (`npm run test:integration`).
 * `npm run test:all` runs all four. */
const transform = { "^.+\\.tsx?$": ["@swc/jest"] };

module.exports = {
  // Evaluating the program with the mock runtime takes seconds, more on a busy
  // 2-core machine; jest's 5 s default fails tests that are only slow.
  testTimeout: 120_000,
  projects: [
    {
      displayName: "unit",
      testEnvironment: "node",
      transform,
      // An evaluation of the program takes seconds; on a shared, busy machine one test outgrows jest's 5 s default.
      testTimeout: 60_000,
      testMatch: ["<rootDir>/tests/unit/**/*.test.ts"],
      // The program needs its Lambda bundles under dist/ (infra/lambdaBundles.ts).
      globalSetup: "<rootDir>/tests/setup/buildLambdas.ts",
    },
    {
      displayName: "failover",
      testEnvironment: "node",
      transform,
      testMatch: ["<rootDir>/tests/failover/**/*.test.ts"],
      globalSetup: "<rootDir>/tests/setup/buildLambdas.ts",
    },
    {
      displayName: "commands",
      testEnvironment: "node",
      transform,
      testMatch: ["<rootDir>/tests/commands/**/*.test.ts"],
      // The commands evaluate the program (and build the bundles) in child processes.
      testTimeout: 600_000,
      globalSetup: "<rootDir>/tests/setup/buildLambdas.ts",
    },
    {
      displayName: "integration",
      testEnvironment: "node",
      transform,
      testMatch: ["<rootDir>/tests/integration/**/*.test.ts"],
      globalSetup: "<rootDir>/tests/integration/services/globalSetup.ts",
      globalTeardown: "<rootDir>/tests/integration/services/globalTeardown.ts",
    },
  ],
};
