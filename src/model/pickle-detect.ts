// Whether bytes are a pickle some loader would run: by the name a loader picks files by, by a PROTO start,
// or by what a walk of them proves. Shared by whole files and archive members.
import { type PickleWalk, plausibleGlobal } from "./pickle.js";

// torch.load, joblib.load and pickle.load pick nothing by content: whatever these names hold, one of them
// may read it as a pickle (torch.load: zip, else tar, else pickle), so it is walked as one.
export const LOADABLE = /\.(bin|pt|pth|ckpt|pkl|pickle|joblib|dat|data)$/;

/** Names that say "pickle" outright: what they hold must parse as one. */
export const PICKLE_NAME = /\.(pkl|pickle|joblib)$/;

// Only files starting with an opcode byte are walked to look for protocol 0/1 pickles under other names;
// the table is the walker's own.
export { PICKLE_OPCODES } from "./pickle.js";

/** PROTO 2-5 as the first opcode: what every pickle since Python 2.3's protocol 2 starts with. */
export function startsWithProto(head: Uint8Array): boolean {
  return head[0] === 0x80 && (head[1] ?? 0) >= 2 && (head[1] ?? 0) <= 5;
}

/** The walk reached STOP: its only error, if any, is the first hazard, which walkPickle copies into `error`. */
export function parsed(walk: PickleWalk): boolean {
  const hazard = walk.hazards[0];
  return (
    !walk.error ||
    (hazard !== undefined && walk.error.offset === hazard.offset && walk.error.message === hazard.message)
  );
}

/**
 * What a walk of bytes that do not start with PROTO proves. A pickle: it parsed to STOP and imports
 * something (text never does both), or, for a name a pickle loader reads, it imported a plausible global
 * before breaking off (pickle.load has run that import by then). Anything else is no pickle: raw tensor
 * bytes, text. Imports through extension codes alone in a broken walk are ignored: stock Python has no
 * extension registry, and 3 in 256 raw-data files start with an EXT opcode.
 */
export function isPickle(walk: PickleWalk, loadable: boolean): boolean {
  if (parsed(walk)) return walk.globals.length > 0 || walk.extensions.length > 0;
  return loadable && walk.globals.some(plausibleGlobal);
}
