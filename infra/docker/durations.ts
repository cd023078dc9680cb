/**
 * A duration as Go's time.Duration prints it ("10s", "1m0s", "1h0m0s"). The
 * docker provider reads a container's health check back in that form
 * (kreuzwerker terraform-provider-docker, flattenHealthcheck), so any other
 * spelling ("60s", "10m") would show as a change at every preview.
 */
export function goDuration(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds < 0) throw new Error(`goDuration: ${seconds} is not a whole number of seconds`);
  if (seconds === 0) return "0s";
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (hours > 0) return `${hours}h${minutes}m${rest}s`;
  if (minutes > 0) return `${minutes}m${rest}s`;
  return `${rest}s`;
}
