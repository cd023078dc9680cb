/** Two projects: `unit` (Pulumi mock runtime and pure logic, seconds) and
 * `integration` (real PostgreSQL, MinIO and moto started by its globalSetup). */
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
      displayName: "integration",
      testEnvironment: "node",
      transform,
      testMatch: ["<rootDir>/tests/integration/**/*.test.ts"],
      globalSetup: "<rootDir>/tests/integration/services/globalSetup.ts",
      globalTeardown: "<rootDir>/tests/integration/services/globalTeardown.ts",
    },
  ],
};
