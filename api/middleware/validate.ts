/** Request input parsed with a zod schema: its first problem a 400 naming its `param` (shared/validate.ts). */
export { parse } from '../../shared/validate.js';
