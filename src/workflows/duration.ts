// The workflow accepts the same durations as the CLI (`7d`, `12h`, `0s`); the parser is pure, so it is safe here.
export { parseDuration as parseWorkflowDuration } from '../pins/duration';
