import { h, uid } from '../dom.js';

/**
 * A labelled `<select>` whose first option (`allLabel`, "All" unless told; null for none) means no
 * filter; `value` the one chosen.
 */
export function filterSelect(label, options, value, onChange, { allLabel = 'All' } = {}) {
  const id = uid('filter');
  const select = h(
    'select',
    { id, onChange: (e) => onChange(e.target.value) },
    allLabel === null ? null : h('option', { value: '' }, allLabel),
    options,
  );
  select.value = value;
  return h('div', { class: 'inline-field' }, h('label', { for: id }, label), select);
}
