import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCustomer } from '../helpers/customer.js';
import { useTestStack } from '../helpers/stack.js';
import { slowUpload, upload } from '../helpers/uploads.js';
import { waitFor } from '../helpers/wait.js';

/**
 * An upload holds its receiving turn as long as its client takes to send it: one account's slow
 * uploads must not hold every account's. Defaults here: 16 receiving per process, 2 per account.
 */
process.env.TMPDIR = mkdtempSync(join(tmpdir(), 'upload-fairness-'));
const stack = useTestStack({ workers: false });

const receiving = (n: number, waiting?: number) =>
  waitFor(`${n} uploads receiving`, async () => {
    const text = await (await fetch(`${stack.server.url}/metrics`)).text();
    return (
      text.includes(`gateway_file_uploads{state="receiving"} ${n}\n`) &&
      (waiting === undefined || text.includes(`gateway_file_uploads{state="waiting"} ${waiting}\n`))
    );
  });

describe('POST /v1/files across accounts', () => {
  it('queues a third upload of an account still sending two, and serves another account meanwhile', async () => {
    const slow = await createCustomer(stack.env.ctx, stack.server.url);
    const other = await createCustomer(stack.env.ctx, stack.server.url);
    const trickling = [
      slowUpload(stack.server.url, slow.childKey),
      slowUpload(stack.server.url, slow.childKey),
    ];
    await receiving(2);
    // The account's third waits behind its own two, taking none of the process's turns.
    const third = upload(stack.server.url, slow.childKey, AbortSignal.timeout(20_000));
    let thirdDone = false;
    void third.then(() => {
      thirdDone = true;
    });
    await receiving(2, 1); // the gauge counts it waiting, behind its account's two

    // Before the fix the two trickling uploads held both turns, and this one waited for them.
    expect(await upload(stack.server.url, other.childKey, AbortSignal.timeout(10_000))).toBe(200);
    expect(thirdDone).toBe(false);

    for (const t of trickling) t.finish();
    expect(await Promise.all(trickling.map((t) => t.status))).toEqual([200, 200]);
    expect(await third).toBe(200);
  });
});
