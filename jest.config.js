/** Jest: TypeScript through ts-jest in transpile-only mode (type checking is `npm run typecheck`). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/planner', '<rootDir>/telemetry', '<rootDir>/src', '<rootDir>/sims', '<rootDir>/web'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
    // flatbush, tinyqueue and rbush ship ES modules only: compile them to CommonJS for jest.
    '^.+/node_modules/(flatbush|flatqueue|tinyqueue|rbush|quickselect)/.+\\.js$': ['ts-jest', { diagnostics: false, tsconfig: { allowJs: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(flatbush|flatqueue|tinyqueue|rbush|quickselect)/)'],
  testTimeout: 60000,
  // Simulator and SITL tests open real sockets; keep workers modest on 2-core machines.
  maxWorkers: process.env.CI ? 2 : '50%',
};
