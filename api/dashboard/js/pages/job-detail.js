import { openDialog } from '../components/dialog.js';
import { h } from '../dom.js';
import { badge, time } from '../format.js';
import { formatMoney } from '../money.js';

const json = (v) => h('pre', { class: 'code' }, JSON.stringify(v, null, 2));

/** What the model answered, as text: the first choice's message (the whole result is below it). */
function answerText(result) {
  const content = result?.choices?.[0]?.message?.content;
  return typeof content === 'string' ? content : null;
}

function usageText(usage) {
  if (!usage) return '—';
  const { prompt_tokens: p, completion_tokens: c } = usage;
  return `${(p + c).toLocaleString()} tokens (${p.toLocaleString()} prompt + ${c.toLocaleString()} completion)`;
}

/**
 * One job as the list gave it: its status and times, what it cost and why, what the model answered
 * and what the caller attached (metadata, webhook_url).
 */
export function showJobDetail(job, keyName) {
  const answer = answerText(job.result);
  const rows = [
    ['Status', [badge(job.status), job.error?.message ? ` ${job.error.message}` : null]],
    ['Model', job.model ?? '—'],
    ['Child key', keyName ?? job.key_id ?? '—'],
    ['Created', time(job.created_at, '—', { seconds: true })],
    ['Started', time(job.started_at, '—', { seconds: true })],
    ['Completed', time(job.completed_at, '—', { seconds: true })],
    ['Attempts', String(job.attempts ?? 0)],
    ['Usage', usageText(job.usage)],
    ['Cost', job.cost_ngonka ? formatMoney(job.cost_ngonka) : '—'],
    ['webhook_url', job.webhook_url ? h('span', { class: 'mono small' }, job.webhook_url) : '—'],
  ];
  openDialog({
    title: `Job ${job.id}`,
    wide: true,
    content: [
      h(
        'dl',
        { class: 'details' },
        rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
      ),
      answer === null ? null : [h('h3', {}, 'Answer'), h('p', { class: 'answer' }, answer)],
      job.metadata && Object.keys(job.metadata).length ? [h('h3', {}, 'Metadata'), json(job.metadata)] : null,
      job.error ? [h('h3', {}, 'Error'), json(job.error)] : null,
      job.result ? h('details', {}, h('summary', {}, 'The whole result (JSON)'), json(job.result)) : null,
    ],
  });
}
