/**
 * Tells in-process caches that something of an account changed (credits, numbers, users). Services that change
 * such state notify after their write commits; a cache drops what it holds for the account.
 */
export class AccountChanges {
  private readonly listeners = new Set<(accountId: string) => void>();

  subscribe(listener: (accountId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(accountId: string): void {
    for (const listener of this.listeners) listener(accountId);
  }
}
