import { api, listOrEmpty, pageOrEmpty } from '../api.js';
import { filterSelect } from '../components/filter-select.js';
import { messageOf, showAlert } from '../components/notify.js';
import { renderPage, section } from '../components/page.js';
import { PAGE_SIZE } from '../components/paged-table.js';
import { h } from '../dom.js';
import { setQuery } from '../router.js';
import { BATCH_STATUSES, batchesTable } from './batches-table.js';
import { filesTable } from './files-table.js';
import { JOB_STATUSES, jobsTable } from './jobs-table.js';
import { childKeyIndex } from './key-index.js';

const PURPOSES = ['batch', 'batch_output'];

/**
 * Jobs and batches of every child key of the account, and the files they use and make, a page at a
 * time with "Load more"; a listing the server lacks shows as empty.
 */
export async function renderJobs(main, _params, ctx) {
  // From the URL (`#/jobs?job_status=failed`), so a refresh or a shared link keeps them.
  const filters = { key_id: '', job_status: '', batch_status: '', purpose: '' };
  const known = {
    job_status: JOB_STATUSES,
    batch_status: BATCH_STATUSES,
    purpose: PURPOSES,
  };
  // A value no option offers (an old link, a typo) is dropped: the lists show what the selects say.
  for (const [k, allowed] of Object.entries(known)) {
    const v = ctx.query?.get(k) ?? '';
    if (allowed.includes(v)) filters[k] = v;
  }
  // A child key is checked once the keys are known (below), not to hold the lists back for it.
  filters.key_id = ctx.query?.get('key_id') ?? '';
  // The filters are read at each request, so "Load more" pages on through the filters shown.
  const jobsPage = (after) =>
    pageOrEmpty(api.jobs({ key_id: filters.key_id, status: filters.job_status, after, limit: PAGE_SIZE }));
  const batchesPage = (after) =>
    pageOrEmpty(
      api.batches({ key_id: filters.key_id, status: filters.batch_status, after, limit: PAGE_SIZE }),
    );
  // Files belong to management keys, not child keys: only their purpose filters them.
  const filesPage = (after) => pageOrEmpty(api.files({ purpose: filters.purpose, after, limit: PAGE_SIZE }));
  let [jobs, batches, files, mks] = await Promise.all([
    jobsPage(),
    batchesPage(),
    filesPage(),
    listOrEmpty(api.managementKeys()),
  ]);
  // The filter's choices (each management key's newest keys), and the keys the first pages and the
  // filter name, wherever they are in the list.
  const [choices, shown] = await Promise.all([
    childKeyIndex(mks),
    childKeyIndex(mks, [filters.key_id, ...[...jobs.data, ...batches.data].map((r) => r.key_id)]),
  ]);
  const index = new Map([...choices, ...shown]);
  if (!ctx.isCurrent()) return;
  if (filters.key_id && !index.has(filters.key_id)) {
    filters.key_id = '';
    [jobs, batches] = await Promise.all([jobsPage(), batchesPage()]);
    if (!ctx.isCurrent()) return;
  }
  // The URL says what the filters say: a value dropped above (an old link, a typo) leaves it too.
  setQuery(filters);
  // Later pages (Load more, a filter) name their keys too: those the index lacks are looked up first.
  const named = (fetchPage) => async (after) => {
    const page = await fetchPage(after);
    const missing = page.data.map((r) => r.key_id).filter((id) => id && !index.has(id));
    for (const [id, k] of await childKeyIndex(mks, missing)) index.set(id, k);
    return page;
  };
  const jobsList = jobsTable(index, named(jobsPage), () => Boolean(filters.key_id || filters.job_status));
  const filesList = filesTable(new Map(mks.map((mk) => [mk.id, mk.name])), filesPage, () =>
    Boolean(filters.purpose),
  );
  const batchesList = batchesTable(
    index,
    named(batchesPage),
    () => filesList.refresh(),
    () => Boolean(filters.key_id || filters.batch_status),
  );
  jobsList.show(jobs);
  batchesList.show(batches);
  filesList.show(files);

  // Only the lists a filter applies to start over, so a status filter keeps the other list's pages.
  const refilter = (name, lists) => async (value) => {
    filters[name] = value;
    setQuery(filters);
    try {
      await Promise.all(lists.map((l) => l.reload()));
    } catch (err) {
      showAlert(messageOf(err));
    }
  };
  const keyOptions = [...index.entries()].map(([id, k]) =>
    h('option', { value: id }, `${k.name} (${k.mk.name})`),
  );

  renderPage(
    main,
    {
      title: 'Jobs & batches',
      intro: 'Asynchronous work sent by your child keys, and its files, newest first.',
      actions: [
        filterSelect('Child key', keyOptions, filters.key_id, refilter('key_id', [jobsList, batchesList])),
      ],
    },
    section(
      'Jobs',
      {
        actions: [
          filterSelect(
            'Job status',
            JOB_STATUSES.map((s) => h('option', { value: s }, s)),
            filters.job_status,
            refilter('job_status', [jobsList]),
          ),
        ],
      },
      jobsList.el,
    ),
    section(
      'Batches',
      {
        actions: [
          filterSelect(
            'Batch status',
            BATCH_STATUSES.map((s) => h('option', { value: s }, s.replaceAll('_', ' '))),
            filters.batch_status,
            refilter('batch_status', [batchesList]),
          ),
        ],
      },
      batchesList.el,
    ),
    section(
      'Files',
      {
        actions: [
          filterSelect(
            'File purpose',
            PURPOSES.map((p) => h('option', { value: p }, p === 'batch' ? 'batch input' : 'batch result')),
            filters.purpose,
            refilter('purpose', [filesList]),
          ),
        ],
      },
      filesList.el,
    ),
  );
}
