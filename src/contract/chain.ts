/** Two PEM chains are the same when they differ only in line ends and surrounding white space. */
export function sameChain(a: string, b: string): boolean {
  return a.replace(/\r\n/g, '\n').trim() === b.replace(/\r\n/g, '\n').trim();
}
