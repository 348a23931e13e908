export { systemClock, clockWithNow, type Clock, type Cancel } from './clock.js';
export { ManualClock } from './manual-clock.js';
export { KeyedTimers } from './keyed-timers.js';
