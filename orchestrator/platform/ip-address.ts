// Recognising IPv4 literals, so only a well-formed address ever reaches a command line.

/** Dotted-quad IPv4 with each part 0–255 and no leading zeros (which some tools read as octal). */
export function isIpv4Address(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part) && Number(part) <= 255);
}

/** Throws a plain Error: a malformed address here is a programming error, callers validate user input first. */
export function assertIpv4Address(text: string): void {
  if (!isIpv4Address(text)) throw new Error(`Expected an IPv4 address such as 169.254.169.254, got ${JSON.stringify(text)}`);
}
