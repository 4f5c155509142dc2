// livehub browser client: public entry point (plain ESM, no dependencies).
export { LivehubClient, Subscription } from './client.js';
export { StreamTracker, streamPath } from './stream_tracker.js';
export type { TrackerHooks, TrackerOptions } from './stream_tracker.js';
export { matchPattern } from './pattern.js';
export type * from './types.js';
