/** Test-only entry point kept for the suites: the solver itself is the client's, in src/proof-of-work-solver.ts. */
export { encodePowAnswer, solvePow, solvePowNumber } from '../src/proof-of-work-solver';
