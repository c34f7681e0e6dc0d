// Preloaded into a server under test (NODE_OPTIONS="--import …/module-trace.mjs",
// STEPSTONE_MODULE_TRACE=file): appends every ES module resolution, as [importer, resolved URL],
// one JSON line each, so a test can tell which modules the serving thread loads.
import { register } from 'node:module';

if (process.env.STEPSTONE_MODULE_TRACE) {
  register(new URL('./module-trace-hooks.mjs', import.meta.url), { data: { out: process.env.STEPSTONE_MODULE_TRACE } });
}
