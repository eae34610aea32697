// The one bundle in dist/ (dist/modelship.js): the CLI and every action share it, so dist/ stays
// small. dist/<action>/index.js and bin/modelship.js are two-line entries that call into it.
export { runNamedAction, runNamedPost } from "./actions/index.js";
export { main } from "./cli.js";
