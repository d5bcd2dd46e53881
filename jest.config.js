/** @type {import('jest').Config} */
const shared = {
  testEnvironment: 'node',
  setupFiles: ['<rootDir>/test/setup-env.ts'],
  // jose and p-limit ship ES modules only; ts-jest turns them into CommonJS for Jest.
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] },
  transformIgnorePatterns: ['/node_modules/(?!(jose|p-limit|yocto-queue)/)'],
};

module.exports = {
  // Integration tests start a whole stack; a hung one should fail, not stall CI.
  testTimeout: 60_000,
  // Two files at once, though the machines CI and users run on have 2 cores (jest's default would be one): a
  // suite waits on its stack much of the time. Measured on such a machine: 535 s one at a time, 425 and 435 s
  // two at a time, every test passing in each run.
  maxWorkers: 2,
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts', '<rootDir>/test/cdk/**/*.test.ts'] },
    {
      // Stores against DynamoDB Local (one in memory per file, tables from shared/schema.ts): no
      // synth and no stack, so they skip the integration project's global setup.
      ...shared,
      displayName: 'store',
      testMatch: ['<rootDir>/test/integration/store/**/*.test.ts'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/integration/store/'],
      // One synth for every suite; each suite then starts its own stack on ports of its own.
      globalSetup: '<rootDir>/test/support/global-setup.ts',
    },
    {
      // Attacks tried against the local stack and the code (SECURITY.md), each asserting the refusal.
      ...shared,
      displayName: 'security',
      testMatch: ['<rootDir>/test/security/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
    },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
    },
  ],
};
