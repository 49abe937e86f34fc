/**
 * Two regions live in index.html: `#status` (polite, for "Saved" and the like) and `#alert`
 * (assertive, for failures that belong to no field).
 */
let statusTimer;

/**
 * Say `message` politely. An action's own success clears the failure shown before it (a retried
 * action that worked); news from `background` (a live list's round) leaves it for the owner to read.
 */
export function announce(message, { background = false } = {}) {
  if (!background) clearAlert();
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
