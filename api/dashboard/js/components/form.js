import { ApiError } from '../api.js';
import { h, uid } from '../dom.js';
import { messageOf } from './notify.js';

/** A problem with one field found in the browser, shown the same way as the API's `param` errors. */
export class FieldError extends Error {
  constructor(param, message) {
    super(message);
    this.name = 'FieldError';
    this.param = param;
  }
}

/** Several fields' errors at once, each shown beside its field (found before asking the API). */
export class FieldErrors extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join(' '));
    this.name = 'FieldErrors';
    this.errors = errors;
  }
}

/**
 * A labelled control with its hint and error slot, wired with `for` and `aria-describedby`.
 * `name` is the API field it feeds, so an error whose `param` names it lands here.
 * @param {{ label: string, name: string, type?: string, value?: string, hint?: string, input?: HTMLElement, attrs?: Record<string, unknown> }} opts
 */
export function field({ label, name, type = 'text', value, hint, input, attrs = {} }) {
  const id = uid(`f-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const control = input ?? h('input', { type, value: value ?? '', ...attrs });
  control.id = id;
  control.name = name;
  control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  return h(
    'div',
    { class: 'field', 'data-field': name },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { id: hintId, class: 'hint' }, hint) : null,
    h('p', { id: errorId, class: 'field-error' }),
  );
}

/**
 * A group of checkboxes under one legend; its error slot describes the whole group.
 * @param {{ legend: string, name: string, options: { value: string, label: string, checked?: boolean }[], hint?: string }} opts
 */
export function checkboxGroup({ legend, name, options, hint }) {
  const errorId = uid(`f-${name}-error`);
  const hintId = hint ? `${errorId}-hint` : null;
  return h(
    'fieldset',
    {
      class: 'field checkbox-group',
      'data-field': name,
      'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
    },
    h('legend', {}, legend),
    hint ? h('p', { id: hintId, class: 'hint' }, hint) : null,
    h(
      'div',
      { class: 'checkbox-list' },
      options.map((o) => {
        const id = uid(`f-${name}`);
        return h(
          'div',
          { class: 'checkbox' },
          h('input', { type: 'checkbox', id, name, value: o.value, checked: !!o.checked }),
          h('label', { for: id }, o.label),
        );
      }),
    ),
    h('p', { id: errorId, class: 'field-error' }),
  );
}

/** "name: must be at most 100 characters" → "Must be at most 100 characters" (the label names the field). */
function fieldMessage(message, param) {
  let m = String(message);
  for (const prefix of [`${param}: `, `${param.split('.')[0]}: `])
    if (m.startsWith(prefix)) m = m.slice(prefix.length);
  // A sentence starts with a capital, but not one that starts with a value ("example.com does not resolve").
  return /^[a-z]+(?![\w.:/@-])/.test(m) ? m.charAt(0).toUpperCase() + m.slice(1) : m;
}

export function setFieldError(form, param, message) {
  const name = String(param).split('.')[0];
  const wrapper = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
  if (!wrapper) return false;
  const slot = wrapper.querySelector(':scope > .field-error');
  if (slot) slot.textContent = fieldMessage(message, param);
  const controls = wrapper.querySelectorAll('input, select, textarea');
  for (const c of controls) c.setAttribute('aria-invalid', 'true');
  controls[0]?.focus();
  return true;
}

export function clearErrors(form) {
  for (const slot of form.querySelectorAll('.field-error')) slot.textContent = '';
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  const alert = form.querySelector(':scope > .form-alert');
  if (alert) alert.textContent = '';
}

/** Beside its field when the error names one this form has; otherwise in the form's alert. */
export function showFormError(form, err) {
  if (err instanceof FieldErrors) {
    // Last to first: each takes focus, so it ends on the first field in error.
    for (const e of [...err.errors].reverse()) showFormError(form, e);
    return;
  }
  const param = err instanceof ApiError || err instanceof FieldError ? err.param : null;
  if (param && setFieldError(form, param, err.message)) return;
  const alert = form.querySelector(':scope > .form-alert');
  if (alert) alert.textContent = messageOf(err);
}

/**
 * A form that submits through `onSubmit(form)`: errors are cleared first and shown after, the
 * submit button is busy meanwhile, and validation is ours (the API's messages) not the browser's.
 */
export function makeForm({ fields, submitLabel, extraActions = [], onSubmit, attrs = {} }) {
  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const form = h(
    'form',
    { novalidate: true, ...attrs },
    h('div', { class: 'form-alert', role: 'alert' }),
    fields,
    h('div', { class: 'actions' }, extraActions, submit),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (form.getAttribute('aria-busy') === 'true') return;
    clearErrors(form);
    form.setAttribute('aria-busy', 'true');
    submit.disabled = true;
    try {
      await onSubmit(form);
    } catch (err) {
      showFormError(form, err);
    } finally {
      form.removeAttribute('aria-busy');
      submit.disabled = false;
      // Disabling the focused button drops focus to <body>; keep keyboard users where they were.
      if (form.isConnected && document.activeElement === document.body) submit.focus();
    }
  });
  return form;
}

/** The trimmed value of a named control. */
export function fieldValue(form, name) {
  const el = form.elements.namedItem(name);
  return el && 'value' in el ? String(el.value).trim() : '';
}

/** The field's text read by `parse`; what it throws is shown beside the field (a FieldError). */
export function parsedField(form, name, parse) {
  try {
    return parse(fieldValue(form, name));
  } catch (err) {
    throw new FieldError(name, err.message);
  }
}
