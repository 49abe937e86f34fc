/** A configuration that cannot run: its message names each variable at fault. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
