/**
 * The shared logger writes asynchronously in chunks, so a quiet process must still get its lines out:
 * a single line reaches the destination within the flush interval, without any further logging.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../../src/shared/logger';

test('a lone line is written within about a second, as one JSON object with the level as a word', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'logger-'));
  try {
    const file = path.join(dir, 'out.log');
    const logger = createLogger({ name: 'probe', level: 'info', dest: file });
    logger.info({ requestID: 'r-1' }, 'only line');
    const read = () => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return '';
      }
    };
    const deadline = Date.now() + 3000;
    while (!read() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const lines = read().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 'info',
      name: 'probe',
      requestID: 'r-1',
      msg: 'only line',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
