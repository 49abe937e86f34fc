import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { createBenchCustomer } from './gateway-key.js';
import { rssMb, runBench } from './processes.js';
import { type BenchStack, startStack } from './stack.js';

/**
 * `npm run bench:batch-file`: one batch at the limits, end to end, with the api and the workers in
 * processes of their own on a zero-latency simulator: a 50,000-line input file of ~100 MB uploaded
 * (POST /v1/files), read back (GET /v1/files/:id/content), made a batch (POST /v1/batches), run to
 * its end, and its output file read. Prints the time of each step and the peak RSS of the api and
 * the workers during it: no step should hold a whole file (batches/file-store.ts).
 * BENCH_BATCH_LINES changes the number of lines; BENCH_CPU_PROF=<dir> profiles the api and workers.
 */
const LINES = Number(process.env.BENCH_BATCH_LINES ?? 50_000);
/** Bytes of each line's prompt: 50,000 lines of it come to just under the 100 MB upload limit. */
const PROMPT_BYTES = 1_900;

let stack: BenchStack | undefined;

interface Step {
  step: string;
  seconds: number;
  apiPeakMb: number;
  workersPeakMb: number;
  note: string;
}

async function main(): Promise<void> {
  stack = await startStack({
    split: true,
    ...(process.env.BENCH_CPU_PROF ? { cpuProfDir: process.env.BENCH_CPU_PROF } : {}),
  });
  const s = stack;
  const customer = await createBenchCustomer(s.gatewayUrl, s.adminToken);
  const auth = { authorization: `Bearer ${customer.childKey}` };
  const steps: Step[] = [];
  const step = async (name: string, run: () => Promise<string>) => {
    const peak = { api: rssMb(s.api.pid), workers: rssMb(s.workers!.pid) };
    const sampler = setInterval(() => {
      peak.api = Math.max(peak.api, rssMb(s.api.pid));
      peak.workers = Math.max(peak.workers, rssMb(s.workers!.pid));
    }, 50);
    const t0 = performance.now();
    try {
      const note = await run();
      steps.push({
        step: name,
        seconds: (performance.now() - t0) / 1000,
        apiPeakMb: peak.api,
        workersPeakMb: peak.workers,
        note,
      });
      process.stderr.write(`${name}: done\n`);
    } finally {
      clearInterval(sampler);
    }
  };

  const input = Buffer.from(
    `${Array.from({ length: LINES }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i + 1}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: SIM_MODEL_QWEN3_235B,
          messages: [{ role: 'user', content: `${i} ${'river '.repeat(PROMPT_BYTES / 6)}` }],
          max_tokens: 16,
        },
      }),
    ).join('\n')}\n`,
  );
  const idle = { api: rssMb(s.api.pid), workers: rssMb(s.workers!.pid) };

  let fileId = '';
  await step('upload (POST /v1/files)', async () => {
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set('file', new Blob([new Uint8Array(input)]), 'bench.jsonl');
    const res = await fetch(`${s.gatewayUrl}/v1/files`, { method: 'POST', headers: auth, body: form });
    const body = (await res.json()) as { id: string; bytes: number };
    if (res.status !== 200) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`);
    fileId = body.id;
    return `${(body.bytes / 1e6).toFixed(1)} MB, ${LINES} lines`;
  });
  await step('read it back (GET content)', async () => {
    const bytes = await download(s, auth, fileId);
    if (!bytes.equals(input)) throw new Error('the file read back differs from the upload');
    return 'byte for byte the upload';
  });
  let batchId = '';
  await step('create the batch', async () => {
    const res = await fetch(`${s.gatewayUrl}/v1/batches`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        input_file_id: fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    });
    const body = (await res.json()) as { id: string; request_counts: { total: number } };
    if (res.status !== 200) throw new Error(`batch: ${res.status} ${JSON.stringify(body)}`);
    batchId = body.id;
    return `${body.request_counts.total} lines`;
  });
  let outputFileId = '';
  await step('run it to the end (incl. result files)', async () => {
    for (;;) {
      const res = await fetch(`${s.gatewayUrl}/v1/batches/${batchId}`, { headers: auth });
      const b = (await res.json()) as {
        status: string;
        output_file_id: string | null;
        request_counts: { completed: number; failed: number };
      };
      if (['completed', 'failed', 'expired', 'cancelled'].includes(b.status)) {
        outputFileId = b.output_file_id ?? '';
        return `${b.status}: ${b.request_counts.completed} completed, ${b.request_counts.failed} failed`;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  });
  if (outputFileId)
    await step('read the output file', async () => {
      const bytes = await download(s, auth, outputFileId);
      return `${(bytes.length / 1e6).toFixed(1)} MB`;
    });

  console.log(`\none batch at the limits: ${LINES} lines, api and workers in processes of their own`);
  console.log(`idle RSS before: api ${idle.api} MB, workers ${idle.workers} MB`);
  console.log(
    `${'step'.padEnd(40)} ${'seconds'.padStart(8)} ${'api MB'.padStart(7)} ${'wrk MB'.padStart(7)}  result`,
  );
  for (const r of steps)
    console.log(
      `${r.step.padEnd(40)} ${r.seconds.toFixed(1).padStart(8)} ${String(r.apiPeakMb).padStart(7)} ${String(r.workersPeakMb).padStart(7)}  ${r.note}`,
    );
  console.log('(api MB and wrk MB: peak RSS of each process during the step)');
}

async function download(s: BenchStack, auth: Record<string, string>, fileId: string): Promise<Buffer> {
  const res = await fetch(`${s.gatewayUrl}/v1/files/${fileId}/content`, { headers: auth });
  if (res.status !== 200) throw new Error(`content: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

await runBench(main, async () => {
  await stack?.stop();
});
