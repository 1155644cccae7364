// The failure half of Outcome: the same shape, and the same helpers, as the namespace's,
// so an error looks the same whichever shard produced it.

export { failure, quote, type Failure } from '../namespace/failure.js';
