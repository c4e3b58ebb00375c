/**
 * Jest runs TypeScript through ts-jest. @kubernetes/client-node 1.x and a few of its dependencies ship
 * only ES modules, which Node 20 loads natively but Jest's CommonJS runtime does not: those packages are
 * transpiled too. e2e suites start real servers, so timeouts are generous.
 */
const esmPackages = ['@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose'];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testTimeout: 60000,
  // The test cluster's image build trees hold a copy of node_modules.
  modulePathIgnorePatterns: ['<rootDir>/test/cluster/build/', '<rootDir>/.cluster/'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/cluster/build/'],
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
};
