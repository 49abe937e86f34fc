import { api } from '../api.js';
import { formDialog } from '../components/dialog.js';
import { FieldError, FieldErrors, field, fieldValue, parsedField } from '../components/form.js';
import { announce } from '../components/notify.js';
import { graceChosen, graceField } from '../components/rotation-grace.js';
import { revealCreated } from '../components/secret.js';
import { h } from '../dom.js';
import { fromLocalInput, toLocalInput } from '../format.js';
import { parseGnk, toGnkInput, ungroup } from '../money.js';

const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const LIMIT_HINT = 'In GNK (1 GNK = 1,000,000,000 nGNK), up to 9 decimals. Empty means no limit.';

/** The form's fields, prefilled from `child` when editing. Names are the API's, so `param` errors land here. */
function fields(child) {
  const numeric = { autocomplete: 'off', inputmode: 'decimal', spellcheck: 'false' };
  return [
    field({
      label: 'Name',
      name: 'name',
      value: child?.name,
      hint: 'E.g. your customer’s name or id.',
      attrs: { autocomplete: 'off', maxlength: 100 },
    }),
    h(
      'div',
      { class: 'field-row' },
      field({
        label: 'Daily limit (GNK)',
        name: 'limit_daily_ngonka',
        value: toGnkInput(child?.limit_daily_ngonka),
        hint: `${LIMIT_HINT} Resets at 00:00 UTC.`,
        attrs: numeric,
      }),
      field({
        label: 'Monthly limit (GNK)',
        name: 'limit_monthly_ngonka',
        value: toGnkInput(child?.limit_monthly_ngonka),
        hint: `${LIMIT_HINT} Resets on the 1st, 00:00 UTC.`,
        attrs: numeric,
      }),
    ),
    h(
      'div',
      { class: 'field-row' },
      field({
        label: 'Requests per minute',
        name: 'rate_limit_rpm',
        value: child?.rate_limit_rpm ?? '',
        hint: 'Over any rolling 60 seconds. Empty means no limit.',
        attrs: { autocomplete: 'off', inputmode: 'numeric' },
      }),
      field({
        label: 'Expires at (your local time)',
        name: 'expires_at',
        type: 'datetime-local',
        value: toLocalInput(child?.expires_at),
        hint: `Time zone: ${zone}. Empty means it never expires.`,
      }),
    ),
    field({
      label: 'Metadata (JSON, optional)',
      name: 'metadata',
      hint: 'Your own references, returned with the key, e.g. {"customer_id": "c_42"}.',
      input: h(
        'textarea',
        { rows: 2, spellcheck: 'false', class: 'mono' },
        child && Object.keys(child.metadata ?? {}).length ? JSON.stringify(child.metadata) : '',
      ),
    }),
  ];
}

const gnk = (form, name) => parsedField(form, name, parseGnk);

/** Grouped like the limits ("1,000"); any whole number goes to the API, which owns the range. */
const rpm = (form) =>
  parsedField(form, 'rate_limit_rpm', (text) => {
    const v = ungroup(text);
    if (v === '') return null;
    if (!/^-?\d+$/.test(v)) throw new Error('Enter a whole number of requests');
    // Past 2^53 a number is no longer exact, and the API's answer would be "must be an integer".
    if (!Number.isSafeInteger(Number(v))) throw new Error('Enter a smaller number of requests');
    return Number(v);
  });

function metadata(form) {
  const v = fieldValue(form, 'metadata');
  if (v === '') return null;
  let value;
  try {
    value = JSON.parse(v);
  } catch {
    value = undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new FieldError('metadata', 'Enter a JSON object, such as {"customer_id": "c_42"}');
  return value;
}

function expiry(form) {
  // A half-typed date or time reads as "" (the browser's badInput), which would mean "never expires"
  // and, when editing, remove the key's expiry.
  if (form.elements.namedItem('expires_at')?.validity.badInput)
    throw new FieldError('expires_at', 'Enter both a date and a time, or clear the field for no expiry');
  return parsedField(form, 'expires_at', fromLocalInput);
}

/** The form's values for the API; every field in error at once (FieldErrors), not one per submit. */
function read(form) {
  const errors = [];
  const each = (readField) => {
    try {
      return readField();
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      errors.push(err);
      return null;
    }
  };
  const body = {
    name: fieldValue(form, 'name'),
    limit_daily_ngonka: each(() => gnk(form, 'limit_daily_ngonka')),
    limit_monthly_ngonka: each(() => gnk(form, 'limit_monthly_ngonka')),
    rate_limit_rpm: each(() => rpm(form)),
    expires_at: each(() => expiry(form)),
    metadata: each(() => metadata(form)),
  };
  if (errors.length) throw new FieldErrors(errors);
  return body;
}

export function createChildKeyDialog(mk, onChange) {
  formDialog({
    title: `New child key for ${mk.name}`,
    intro: 'Give it to one customer. Limits cap what it may spend; your balance always does.',
    fields: fields(null),
    submitLabel: 'Create child key',
    onSubmit: async (form, dlg) => {
      const body = Object.fromEntries(Object.entries(read(form)).filter(([, v]) => v !== null));
      const created = await api.createChildKey(mk.id, body);
      announce(`Child key ${created.name} created.`);
      await revealCreated(dlg, {
        title: 'Child key created',
        label: 'Your new child key',
        secret: created.key,
        noun: 'child key',
        ifLost: IF_LOST,
        refresh: onChange,
      });
    },
  });
}

const IF_LOST =
  'We keep only a hash of the key. If it is lost or leaks, rotate it: a new key with the same limits and usage.';

/**
 * A new secret for a child key: same id, limits, usage and metadata. The old secret stops at once
 * or after a grace for the customer to switch; while an earlier grace runs, only "at once" is
 * allowed (the API refuses a second grace).
 */
export function rotateChildKeyDialog(mk, child, onChange) {
  const running = child.previous_key_expires_at;
  formDialog({
    title: `Rotate ${child.name}`,
    intro:
      'Your customer gets a new key. It keeps this key’s limits, usage and metadata, so its spend this period still counts.',
    fields: [graceField(running)],
    submitLabel: 'Rotate key',
    onSubmit: async (form, dlg) => {
      const grace = graceChosen(form, running);
      let rotated;
      try {
        rotated = await api.rotateChildKey(mk.id, child.id, { grace_period_seconds: grace });
      } catch (err) {
        // Deleted or rotated meanwhile (another tab): the list behind says so once refreshed.
        if (err.status === 404 || err.status === 409) await onChange().catch(() => {});
        throw err;
      }
      announce(`${child.name} rotated.`);
      await revealCreated(dlg, {
        title: 'Child key rotated',
        label: `${child.name}’s new key`,
        secret: rotated.key,
        noun: 'new key',
        ifLost: IF_LOST,
        refresh: onChange,
      });
    },
  });
}

/** Only what changed is sent: an untouched past expiry must not be re-validated as "in the future". */
function changes(child, next, form) {
  const out = {};
  if (next.name !== child.name) out.name = next.name;
  for (const k of ['limit_daily_ngonka', 'limit_monthly_ngonka', 'rate_limit_rpm']) {
    if (String(next[k] ?? '') !== String(child[k] ?? '')) out[k] = next[k];
  }
  if (fieldValue(form, 'expires_at') !== toLocalInput(child.expires_at)) out.expires_at = next.expires_at;
  const before = Object.keys(child.metadata ?? {}).length ? JSON.stringify(child.metadata) : null;
  if ((next.metadata ? JSON.stringify(next.metadata) : null) !== before) out.metadata = next.metadata;
  return out;
}

export function editChildKeyDialog(mk, child, onChange) {
  formDialog({
    title: `Edit ${child.name}`,
    intro: 'Changes apply to the very next request made with this key.',
    fields: [
      // An expired key has no Enable: its expiry is what brings it back.
      child.status === 'expired'
        ? h(
            'p',
            { class: 'callout warning' },
            'This key has expired. Set an expiry in the future, or clear it, to make the key work again.',
          )
        : null,
      ...fields(child),
    ],
    submitLabel: 'Save changes',
    onSubmit: async (form, dlg) => {
      const body = changes(child, read(form), form);
      if (Object.keys(body).length) {
        await api.updateChildKey(mk.id, child.id, body);
        await onChange();
      }
      dlg.close();
      announce(Object.keys(body).length ? `${child.name} saved.` : 'Nothing changed.');
    },
  });
}
