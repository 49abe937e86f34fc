/**
 * Two regions live in index.html: `#status` (polite, for "Saved" and the like) and `#alert`
 * (assertive, for failures that belong to no field).
 */
let statusTimer;

export function announce(message) {
  // A success says the failure shown before it no longer stands (a retried action that worked).
  clearAlert();
  const el = document.getElementById('status');
  if (!el) return;
  // Clearing first makes a repeated message be read again.
  el.textContent = '';
  clearTimeout(statusTimer);
  requestAnimationFrame(() => {
    el.textContent = message;
    statusTimer = setTimeout(() => {
      el.textContent = '';
    }, 6000);
  });
}

export function showAlert(message) {
  const el = document.getElementById('alert');
  if (el) el.textContent = message;
}

export function clearAlert() {
  const el = document.getElementById('alert');
  if (el) el.textContent = '';
}

/** The message to show for any thrown value. */
export function messageOf(err) {
  return err instanceof Error && err.message ? err.message : 'Something went wrong. Please try again.';
}
