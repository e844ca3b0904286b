// The HIMDS emulator as its own process, so the benchmark's load generator does not share its event loop.
// Started with an IPC channel: sends {type:'ready', url}, stops on {type:'stop'} or when the parent goes away.
import { HimdsEmulator } from '../support/himds-emulator.js';

const tokenDirectory = process.argv[2];
if (tokenDirectory === undefined || process.send === undefined) {
  console.error('usage: emulator-process <tokenDirectory> (with an IPC channel)');
  process.exitCode = 2;
} else {
  const emulator = await HimdsEmulator.start({ tokenDirectory });
  const stop = async (): Promise<void> => {
    await emulator.stop();
    process.disconnect?.();
  };
  process.on('message', (message: unknown) => {
    if ((message as { type?: unknown } | null)?.type === 'stop') void stop();
  });
  process.on('disconnect', () => void emulator.stop());
  process.send({ type: 'ready', url: emulator.url });
}
