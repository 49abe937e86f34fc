/**
 * The V8 flags the gateway runs under, wherever it is started: package.json's start scripts,
 * docker-compose.yml, the benchmarks and the soak (test/unit/node-flags.test.ts keeps them agreeing;
 * V8 sizes its heap when the process starts, so they cannot be set from inside the bundle).
 *
 * `--max-semi-space-size=32` (MiB; Node 20's default is 16): a request allocates ~70 KB of
 * short-lived objects, and with the default young generation the api spent ~11% of its CPU in
 * scavenges at 3,000 req/s. Twice the space halves the scavenges (each costs what survives it, the
 * in-flight requests, not what died): ~13% more sync chat throughput and ~20% less api CPU per
 * request in interleaved A/B runs, for ~35 MB more RSS under load (DESIGN.md's cap is 250 MB; at
 * 64 the api passed it).
 */
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=32'] as const;
