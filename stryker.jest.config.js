/** Jest for mutation testing (npm run mutate): the fast tests that guard the mutated files, in one project. */
const { projects } = require('./jest.config');
const unit = projects.find((p) => p.displayName === 'unit');

module.exports = {
  ...unit,
  displayName: 'mutation',
  testMatch: [
    '<rootDir>/libs/domain/**/*.spec.ts',
    '<rootDir>/libs/gate/**/*.spec.ts',
    '<rootDir>/libs/gate/**/*.int-spec.ts',
    '<rootDir>/libs/command-side/src/inventory/**/*.spec.ts',
    '<rootDir>/libs/command-side/src/gate-keeper/**/*.int-spec.ts',
    '<rootDir>/test/chaos/checker-selftest.chaos-spec.ts',
  ],
};
