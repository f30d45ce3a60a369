import { register } from 'node:module';

// Loaded with `node --import <this file>`: traces every module the process resolves (see module-trace-hooks.ts).
register('./module-trace-hooks.js', import.meta.url);
