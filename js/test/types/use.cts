// Compiled by test/types.test.mjs only (tsc --noEmit): the CommonJS declarations.
import ssekit = require('ssekit');

const p: ssekit.Parser = ssekit.createParser({ onEvent: (ev: ssekit.SseEvent) => void ev.data });
p.feed('data: x\n\n');
p.close();
const s: string = ssekit.serializeEvent({ data: 'x' });
void s;
