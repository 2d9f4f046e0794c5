/**
 * Loaded before every suite (jest.config.js, setupFiles). Nest's packages are ES modules, and some
 * CommonJS packages require() them (@willsoto/nestjs-prometheus, @nestjs/throttler, nestjs-pino...).
 * Node allows that; Jest's module loader refuses it while the ES module is still being linked as part
 * of the suite's own import graph ("Cannot require() ES Module ... in a cycle"). Importing them here
 * first, fully evaluated, takes them out of that graph.
 */
await import('@nestjs/common');
await import('@nestjs/core');
