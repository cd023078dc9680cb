/** Three projects:
 * - `unit`: the Pulumi mock runtime and pure logic (`npm test`);
 * - `failover`: the exhaustive failover diffs, which evaluate every stack under
 *   both activeSite values in every DNS mode and database generation (`npm run test:failover`);
 * - `integration`: real PostgreSQL, MinIO and moto started by its globalSetup (`npm run test:integration`).
 * `npm run test:all` runs all three. */
const transform = { "^.+\\.tsx?$": ["@swc/jest"] };

module.exports = {
  projects: [
    {
      displayName: "unit",
      testEnvironment: "node",
      transform,
      testMatch: ["<rootDir>/tests/unit/**/*.test.ts"],
    },
    {
      displayName: "failover",
      testEnvironment: "node",
      transform,
      testMatch: ["<rootDir>/tests/failover/**/*.test.ts"],
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
