/**
 * The replay list of RFC 3711 §3.3.2 as a sliding window of 64 indices: an index more than 63 below the highest
 * authenticated one is too old, one in the window is accepted once. `check` is read-only, so a packet is only
 * `mark`ed after it authenticated (a forged packet must not move the window).
 */
export const REPLAY_WINDOW = 64;

export class ReplayWindow {
  private top = -1;
  /** seen[i % 64] for the indices top-63 .. top. */
  private readonly seen = new Uint8Array(REPLAY_WINDOW);

  /** Whether `index` may be accepted now. */
  check(index: number): boolean {
    if (index > this.top) return true;
    if (this.top - index >= REPLAY_WINDOW) return false;
    return this.seen[index % REPLAY_WINDOW] === 0;
  }

  mark(index: number): void {
    if (index > this.top) {
      // Slots the window slides over belong to indices never seen.
      if (this.top < 0) this.seen.fill(0);
      else for (let i = Math.max(this.top + 1, index - REPLAY_WINDOW + 1); i <= index; i++) this.seen[i % REPLAY_WINDOW] = 0;
      this.top = index;
    }
    this.seen[index % REPLAY_WINDOW] = 1;
  }
}
