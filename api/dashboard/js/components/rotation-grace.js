import { h } from '../dom.js';
import { time } from '../format.js';
import { field, fieldValue } from './form.js';

/** When the old key stops working, in seconds from now (the API's grace_period_seconds). */
const GRACES = [
  ['0', 'At once (it leaked)'],
  ['3600', 'In 1 hour'],
  ['86400', 'In 24 hours'],
];

/**
 * A rotation's choice of when the old secret stops (child and management keys alike). While an
 * earlier rotation's grace runs (`running`: its end), only "at once" is allowed (the API refuses a
 * second grace), and the dialog says so instead.
 */
export function graceField(running) {
  return running
    ? h(
        'p',
        { class: 'callout warning' },
        'The key the last rotation replaced still works until ',
        time(running),
        '. Rotating again now stops every key but the new one at once.',
      )
    : field({
        label: 'The old key stops working',
        name: 'grace_period_seconds',
        input: h('select', {}, ...GRACES.map(([value, label]) => h('option', { value }, label))),
      });
}

/** The grace chosen in a dialog built with graceField(running). */
export function graceChosen(form, running) {
  return running ? 0 : Number(fieldValue(form, 'grace_period_seconds'));
}
