// The topic layout is part of the wire contract (src/protocol/), which the browser client imports too.
export { DEFAULT_LAYOUT, Topics, type ProductTopic, type TopicLayout } from './protocol/topics.js';
