import { defineConfig } from 'vitest/config';

// Dawn (npm `webgpu`) crashes when an adapter is requested from a worker thread, so every test file runs
// in its own forked process, which creates one device in beforeAll and destroys it in afterAll.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp/sdvae-xdg' },
  },
});
